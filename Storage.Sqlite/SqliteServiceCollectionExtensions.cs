using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace SessionTracking.Storage.Sqlite;

public static class SqliteServiceCollectionExtensions
{
    /// <summary>
    /// The SQLite adapter as <see cref="ISessionStore"/> and <see cref="IAnalyticsStore"/>, options from
    /// <c>Storage:Sqlite</c> (a relative <c>DatabasePath</c> is resolved against the content root).
    /// </summary>
    public static IServiceCollection AddSqliteSessionStore(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<SqliteStoreOptions>()
            .Bind(configuration.GetSection(SqliteStoreOptions.SectionName))
            .PostConfigure<IHostEnvironment>((options, environment) =>
                options.DatabasePath = Path.GetFullPath(options.DatabasePath, environment.ContentRootPath))
            .ValidateDataAnnotations()
            .ValidateOnStart();
        services.AddSingleton<SqliteSessionStore>();
        services.AddSingleton<ISessionStore>(sp => sp.GetRequiredService<SqliteSessionStore>());
        services.AddSingleton<IAnalyticsStore, SqliteAnalyticsStore>();
        return services;
    }
}
