using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace SessionTracking.Storage.Mongo;

public static class MongoServiceCollectionExtensions
{
    /// <summary>
    /// The MongoDB adapter as <see cref="ISessionStore"/> and <see cref="IAnalyticsStore"/>, options from
    /// <c>Storage:Mongo</c>; the connection string defaults to <c>MONGODB_URI</c> (configuration, then environment).
    /// </summary>
    public static IServiceCollection AddMongoSessionStore(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<MongoStoreOptions>()
            .Bind(configuration.GetSection(MongoStoreOptions.SectionName))
            .PostConfigure(options => options.ConnectionString ??= configuration["MONGODB_URI"] ?? Environment.GetEnvironmentVariable("MONGODB_URI"))
            .Validate(options => !string.IsNullOrEmpty(options.ConnectionString), "Storage:Mongo:ConnectionString or MONGODB_URI is required for the MongoDB store.")
            .ValidateDataAnnotations()
            .ValidateOnStart();
        services.AddSingleton<ISessionStore, MongoSessionStore>();
        services.AddSingleton<IAnalyticsStore, MongoAnalyticsStore>();
        return services;
    }
}
