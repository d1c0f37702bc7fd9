using System.Globalization;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;

namespace SessionTracking.TestSupport;

/// <summary>
/// The real gateway with its co-hosted silo, in the test process (WebApplicationFactory): SQLite in a temp directory,
/// free Orleans ports, the repository's wwwroot. Disposing it stops the host and deletes the directory it created.
/// Test projects name it <c>GatewayHost</c> (a global using alias for <c>GatewayHost&lt;Program&gt;</c>).
/// </summary>
/// <remarks>
/// A restart: two hosts given the same <see cref="TempDirectory"/>, the first disposed before the second starts; a
/// directory passed in belongs to the caller and is left in place.
/// </remarks>
public class GatewayHost<TEntryPoint> : WebApplicationFactory<TEntryPoint>
    where TEntryPoint : class
{
    private readonly bool _ownsDataDirectory;

    public GatewayHost()
        : this(null)
    {
    }

    public GatewayHost(string? dataDirectory)
    {
        _ownsDataDirectory = dataDirectory is null;
        DataDirectory = dataDirectory ?? RepoPaths.NewTempDirectory("gateway-host");
    }

    public string DataDirectory { get; }

    public string DatabasePath => Path.Combine(DataDirectory, "sessions.db");

    /// <summary>Configuration for this host (<c>Section:Key</c> → value), applied after the defaults above.</summary>
    public IReadOnlyDictionary<string, string> Settings { get; init; } = new Dictionary<string, string>();

    /// <summary>Replaces services after the gateway registered its own (e.g. a store that fails on demand).</summary>
    public Action<IServiceCollection>? TestServices { get; init; }

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        if (_ownsDataDirectory)
        {
            TempDirectory.Delete(DataDirectory);
        }
    }

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

        if (TestServices is { } configure)
        {
            builder.ConfigureTestServices(configure);
        }
    }
}
