using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using SessionTracking.Storage;
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
        services.TryAddTimeProvider();
        services.AddSessionStore(configuration);
        services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>, StoreInitializer>();
        return silo;
    }

    /// <summary>Registers the configured storage adapter (<c>Storage:Provider</c>, default <c>Sqlite</c>).</summary>
    public static IServiceCollection AddSessionStore(this IServiceCollection services, IConfiguration configuration)
    {
        var provider = configuration["Storage:Provider"] ?? "Sqlite";
        if (!provider.Equals("Sqlite", StringComparison.OrdinalIgnoreCase))
        {
            throw new OptionsValidationException("Storage:Provider", typeof(string), [$"Unknown storage provider '{provider}'. Known: Sqlite."]);
        }

        services.AddOptions<SqliteStoreOptions>()
            .Bind(configuration.GetSection(SqliteStoreOptions.SectionName))
            .PostConfigure<IHostEnvironment>((options, environment) =>
                options.DatabasePath = Path.GetFullPath(options.DatabasePath, environment.ContentRootPath))
            .ValidateDataAnnotations()
            .ValidateOnStart();
        services.AddSingleton<SqliteSessionStore>();
        services.AddSingleton<ISessionStore>(sp => sp.GetRequiredService<SqliteSessionStore>());
        return services;
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
