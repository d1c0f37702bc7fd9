using System.Diagnostics;
using System.Globalization;
using SessionTracking.TestSupport;

namespace SessionTracking.Gateway.Tests;

/// <summary>
/// The gateway published with <c>-p:CoHostSilo=false</c> (as deploy/Dockerfile.gateway does) ships no database driver,
/// grains or storage adapter, and works as a client of a standalone silo; it refuses to co-host one.
/// </summary>
[TestCategory("SlowBVT")]
public sealed class ClientOnlyGatewayTests
{
    private static readonly string[] Forbidden =
        ["Microsoft.Data.Sqlite", "SQLitePCL", "e_sqlite3", "MongoDB.", "SessionTracking.Grains.dll", "SessionTracking.Storage.", "SessionTracking.Silo.Hosting"];

    [Fact]
    public async Task The_client_only_publish_has_no_driver_or_grains_and_serves_sessions_from_a_standalone_silo()
    {
        using var temp = new TempDirectory("client-gateway");
        var output = Path.Combine(temp.Path, "out");
        await PublishClientOnlyGatewayAsync(temp.Path, output);

        var files = Directory.GetFiles(output, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(output, f)).ToList();
        Assert.Contains("SessionTracking.Gateway.dll", files);
        Assert.Contains("SessionTracking.Shared.dll", files);
        Assert.DoesNotContain(files, f => Forbidden.Any(name => Path.GetFileName(f).Contains(name, StringComparison.OrdinalIgnoreCase)));
        var dependencies = await File.ReadAllTextAsync(Path.Combine(output, "SessionTracking.Gateway.deps.json"));
        Assert.DoesNotContain(Forbidden, name => dependencies.Contains(name, StringComparison.OrdinalIgnoreCase));

        // A standalone silo (localhost clustering) and the published gateway, which is an Orleans client by default.
        var siloGatewayPort = FreePort.Next();
        await using var silo = ServiceProcess.Start(RepoPaths.SiloDll, [], new Dictionary<string, string?>
        {
            ["Cluster__SiloPort"] = FreePort.Next().ToString(CultureInfo.InvariantCulture),
            ["Cluster__GatewayPort"] = siloGatewayPort.ToString(CultureInfo.InvariantCulture),
            ["Storage__Sqlite__DatabasePath"] = Path.Combine(temp.Path, "sessions.db"),
            ["Health__Port"] = FreePort.Next().ToString(CultureInfo.InvariantCulture),
        });
        var gatewayDll = Path.Combine(output, "SessionTracking.Gateway.dll");
        var baseAddress = new Uri($"http://127.0.0.1:{FreePort.Next()}");
        await using var gateway = ServiceProcess.Start(gatewayDll, ["--urls", baseAddress.ToString().TrimEnd('/')], new Dictionary<string, string?>
        {
            ["Cluster__GatewayPorts__0"] = siloGatewayPort.ToString(CultureInfo.InvariantCulture),
        });
        await gateway.WaitUntilReadyAsync(new Uri(baseAddress, "/readyz"), TimeSpan.FromSeconds(90));

        using var client = new HttpClient { BaseAddress = baseAddress };
        var id = await client.StartSessionAsync();
        var appended = await client.PostAsync("/session/event", $$"""{"session_id":"{{id}}","type":"prompt","data":{"text":"hi"},"id":"p1"}""");
        var document = await client.GetSessionAsync(id);

        Assert.Equal(200, appended.Status);
        Assert.Equal(["p1"], document.GetProperty("events").EnumerateArray().Select(e => e.GetProperty("id").GetString()));
        Assert.False(silo.HasExited, silo.Output);

        // The same build asked to co-host a silo stops at start-up and says why.
        await using var coHosted = ServiceProcess.Start(gatewayDll, ["--urls", $"http://127.0.0.1:{FreePort.Next()}"], new Dictionary<string, string?>
        {
            ["Orleans__Mode"] = "CoHosted",
        });
        Assert.NotEqual(0, await coHosted.WaitForExitAsync(TimeSpan.FromSeconds(60)));
        Assert.Contains("CoHostSilo=true", coHosted.Output, StringComparison.Ordinal);
    }

    [Fact]
    public void The_gateway_image_is_the_client_only_build()
    {
        var dockerfile = File.ReadAllLines(Path.Combine(RepoPaths.Root, "deploy", "Dockerfile.gateway"));

        Assert.Contains(dockerfile, line => line.Contains("dotnet publish Gateway/Gateway.csproj", StringComparison.Ordinal) && line.Contains("-p:CoHostSilo=false", StringComparison.Ordinal));
    }

    /// <summary>
    /// Publishes with its own intermediate and output folders (artifacts layout under <paramref name="root"/>), so the
    /// repository's build of the default, co-hosting gateway is left as it is.
    /// </summary>
    private static async Task PublishClientOnlyGatewayAsync(string root, string output)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = RepoPaths.Root,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[]
        {
            "publish", Path.Combine("Gateway", "Gateway.csproj"), "-p:CoHostSilo=false", "-p:UseArtifactsOutput=true",
            $"-p:ArtifactsPath={Path.Combine(root, "artifacts")}", "-o", output, "--nologo", "-nodeReuse:false", "--disable-build-servers",
        })
        {
            info.ArgumentList.Add(arg);
        }

        using var publish = Process.Start(info)!;
        var stdout = publish.StandardOutput.ReadToEndAsync();
        var stderr = publish.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(10));
        await publish.WaitForExitAsync(timeout.Token);
        Assert.True(publish.ExitCode == 0, $"dotnet publish failed:\n{await stdout}\n{await stderr}");
    }
}
