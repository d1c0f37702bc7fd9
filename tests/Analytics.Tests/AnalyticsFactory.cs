using System.Globalization;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using SessionTracking.TestSupport;

namespace SessionTracking.Analytics.Tests;

/// <summary>The real gateway with its co-hosted silo on a temp SQLite file and free Orleans ports (as Gateway.Tests).</summary>
public sealed class AnalyticsFactory : WebApplicationFactory<Program>
{
    public string DataDirectory { get; init; } = RepoPaths.NewTempDirectory("analytics-tests");

    public string DatabasePath => Path.Combine(DataDirectory, "sessions.db");

    public IReadOnlyDictionary<string, string> Settings { get; init; } = new Dictionary<string, string>();

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        builder.UseWebRoot(Path.Combine(RepoPaths.Root, "wwwroot"));
        builder.UseSetting("Storage:Sqlite:DatabasePath", DatabasePath);
        builder.UseSetting("Cluster:SiloPort", FreePort.Next().ToString(CultureInfo.InvariantCulture));
        builder.UseSetting("Cluster:GatewayPort", FreePort.Next().ToString(CultureInfo.InvariantCulture));
        foreach (var (key, value) in Settings)
        {
            builder.UseSetting(key, value);
        }
    }
}
