using System.Net;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace SessionTracking;

/// <summary>Clustering for silos and clients from the <c>Cluster</c> section, so both sides always agree.</summary>
public static class ClusteringExtensions
{
    public static ISiloBuilder UseSessionTrackingClustering(this ISiloBuilder silo, IConfiguration configuration)
    {
        var settings = Read(configuration);
        silo.Configure<Orleans.Configuration.ClusterOptions>(o =>
        {
            o.ClusterId = settings.ClusterId;
            o.ServiceId = settings.ServiceId;
        });
        var primaryPort = settings.PrimarySiloPort == 0 ? settings.SiloPort : settings.PrimarySiloPort;
        return silo.UseLocalhostClustering(
            settings.SiloPort,
            settings.GatewayPort,
            new IPEndPoint(IPAddress.Loopback, primaryPort),
            settings.ServiceId,
            settings.ClusterId);
    }

    public static IClientBuilder UseSessionTrackingClustering(this IClientBuilder client, IConfiguration configuration)
    {
        var settings = Read(configuration);
        return client.UseLocalhostClustering(settings.GatewayPorts, settings.ServiceId, settings.ClusterId);
    }

    internal static ClusterSettings Read(IConfiguration configuration)
    {
        var settings = configuration.GetSection(ClusterSettings.SectionName).Get<ClusterSettings>() ?? new ClusterSettings();
        var errors = new List<System.ComponentModel.DataAnnotations.ValidationResult>();
        if (!System.ComponentModel.DataAnnotations.Validator.TryValidateObject(settings, new(settings), errors, validateAllProperties: true))
        {
            throw new OptionsValidationException(ClusterSettings.SectionName, typeof(ClusterSettings), errors.Select(e => e.ErrorMessage ?? "invalid"));
        }

        if (!settings.Provider.Equals("Localhost", StringComparison.OrdinalIgnoreCase))
        {
            throw new OptionsValidationException(ClusterSettings.SectionName, typeof(ClusterSettings), [$"Unknown Cluster:Provider '{settings.Provider}'. Known: Localhost."]);
        }

        return settings;
    }
}
