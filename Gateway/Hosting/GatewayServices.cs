using Microsoft.Extensions.DependencyInjection.Extensions;
using SessionTracking.Gateway.Http;
using SessionTracking.Gateway.Query;
using SessionTracking.Gateway.Security;
using SessionTracking.Gateway.Sessions;

namespace SessionTracking.Gateway.Hosting;

internal static class GatewayServices
{
    public static IServiceCollection AddGatewayServices(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<GatewayOptions>()
            .Bind(configuration.GetSection(GatewayOptions.SectionName))
            .ValidateDataAnnotations()
            .ValidateOnStart();
        // Also bound by the silo (co-hosted); a gateway in Client mode needs the splits for sticky assignment.
        SessionTracking.Analytics.AnalyticsOptionsRegistration.AddAnalyticsOptions(services, configuration);
        services.AddSingleton<WireLimits>();
        services.AddSingleton<JsonBody>();
        services.AddSingleton<EventParser>();
        services.AddSingleton<AppendBodyReader>();
        services.AddSingleton<SessionGrains>();
        services.AddSingleton<QueryService>();
        services.AddSingleton(TimeProvider.System);
        // Client mode also registers it as the Orleans client's connection observer (UseSessionTrackingClustering).
        services.TryAddSingleton<ResendOnGatewayLoss>();
        services.AddQueryChatClient(configuration);
        services.AddGatewaySecurity(configuration);
        services.AddProblemDetails();
        services.AddExceptionHandler<UnavailableExceptionHandler>();
        // A query or route value that does not bind (limit=abc) throws, so that the exception handler answers the
        // problem saying which value was wrong instead of an empty 400.
        services.Configure<Microsoft.AspNetCore.Routing.RouteHandlerOptions>(options => options.ThrowOnBadRequest = true);
        services.ConfigureHttpJsonOptions(options =>
        {
            options.SerializerOptions.PropertyNamingPolicy = System.Text.Json.JsonNamingPolicy.SnakeCaseLower;
            // Numbers are numbers on the wire (and integers in the OpenAPI document, not integer | string).
            options.SerializerOptions.NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.Strict;
            options.SerializerOptions.Converters.Add(new System.Text.Json.Serialization.JsonStringEnumConverter(System.Text.Json.JsonNamingPolicy.SnakeCaseLower));
            options.SerializerOptions.TypeInfoResolverChain.Insert(0, WireJsonContext.Default);
            options.SerializerOptions.TypeInfoResolverChain.Insert(1, SessionTracking.Gateway.Analytics.Wire.AnalyticsJsonContext.Default);
        });
        services.AddApiContract();
        // The tracker's TypeScript declarations (.d.ts, .d.mts) are text; the default map reads .ts as an MPEG stream.
        services.Configure<StaticFileOptions>(options =>
        {
            var types = new Microsoft.AspNetCore.StaticFiles.FileExtensionContentTypeProvider();
            foreach (var extension in new[] { ".ts", ".mts", ".cts" })
            {
                types.Mappings[extension] = "text/plain; charset=utf-8";
            }

            options.ContentTypeProvider = types;
        });
        return services;
    }

    /// <summary>
    /// The static files (tracker, pages) live in the repository's wwwroot/; a published gateway carries a copy next to
    /// its binaries. The first folder that exists wins.
    /// </summary>
    public static string? LocateWebRoot()
    {
        string[] candidates =
        [
            Path.Combine(Directory.GetCurrentDirectory(), "wwwroot"),
            Path.Combine(Directory.GetCurrentDirectory(), "..", "wwwroot"),
            Path.Combine(AppContext.BaseDirectory, "wwwroot"),
        ];
        return candidates.Select(Path.GetFullPath).FirstOrDefault(Directory.Exists);
    }
}
