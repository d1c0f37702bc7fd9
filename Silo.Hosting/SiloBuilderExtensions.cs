using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using SessionTracking.Analytics;
using SessionTracking.Metrics;
using SessionTracking.Storage;
using SessionTracking.Storage.Mongo;
using SessionTracking.Storage.Sqlite;

namespace SessionTracking;

/// <summary>The one place a silo is configured: the standalone Silo and the co-hosted Gateway both call it.</summary>
public static class SiloBuilderExtensions
{
    public static ISiloBuilder AddSessionTracking(this ISiloBuilder silo, IConfiguration configuration)
    {
        var services = silo.Services;
        services.AddOptions<SessionOptions>()
            .Bind(configuration.GetSection(SessionOptions.SectionName))
            .ValidateDataAnnotations()
            .ValidateOnStart();

        // An idle session must outlive its idle timeout in memory, so that its timer (not grain collection) ends it.
        services.AddOptions<GrainCollectionOptions>().Configure<IOptions<SessionOptions>>((collection, sessions) =>
            collection.ClassSpecificCollectionAge[typeof(SessionGrain).FullName!] = sessions.Value.IdleTimeout + TimeSpan.FromMinutes(1));
        services.AddAnalyticsOptions(configuration);

        // Custom metrics: every definition validated at start-up (each error names its setting), then one catalog that
        // the session grains fold, the store aggregates and the report reads.
        services.AddSingleton<IValidateOptions<AnalyticsOptions>, MetricOptionsValidation>();
        services.AddSingleton<MetricCatalog>();
        services.TryAddTimeProvider();
        services.AddSessionStore(configuration);
        services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>, StoreInitializer>();
        return silo;
    }

    /// <summary>
    /// Registers the configured storage adapter: <c>Storage:Provider</c> (<c>Sqlite</c> or <c>Mongo</c>); without it,
    /// MongoDB when <c>MONGODB_URI</c> is set, SQLite otherwise.
    /// </summary>
    public static IServiceCollection AddSessionStore(this IServiceCollection services, IConfiguration configuration)
    {
        var provider = configuration["Storage:Provider"]
            ?? (string.IsNullOrEmpty(configuration["MONGODB_URI"] ?? Environment.GetEnvironmentVariable("MONGODB_URI")) ? "Sqlite" : "Mongo");
        if (provider.Equals("Mongo", StringComparison.OrdinalIgnoreCase))
        {
            return services.AddMongoSessionStore(configuration);
        }

        if (!provider.Equals("Sqlite", StringComparison.OrdinalIgnoreCase))
        {
            throw new OptionsValidationException("Storage:Provider", typeof(string), [$"Unknown storage provider '{provider}'. Known: Sqlite, Mongo."]);
        }

        return services.AddSqliteSessionStore(configuration);
    }

    private static void TryAddTimeProvider(this IServiceCollection services)
    {
        if (!services.Any(d => d.ServiceType == typeof(TimeProvider)))
        {
            services.AddSingleton(TimeProvider.System);
        }
    }

    /// <summary>Creates the schema before the silo takes calls.</summary>
    private sealed class StoreInitializer(ISessionStore store) : ILifecycleParticipant<ISiloLifecycle>
    {
        public void Participate(ISiloLifecycle lifecycle) =>
            lifecycle.Subscribe(nameof(StoreInitializer), ServiceLifecycleStage.ApplicationServices, store.InitializeAsync);
    }
}
