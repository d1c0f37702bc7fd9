using System.Globalization;
using SessionTracking.TestSupport;

namespace SessionTracking.Cluster.Tests;

/// <summary>A standalone silo process (split mode) exports its own telemetry: a Prometheus endpoint and OTLP.</summary>
[TestCategory("SlowBVT")]
public sealed class SiloTelemetryTests
{
    [Fact]
    public async Task A_standalone_silo_serves_prometheus_metrics_and_pushes_otlp_when_configured()
    {
        await using var collector = await OtlpReceiver.StartAsync();
        var data = RepoPaths.NewTempDirectory("silo-telemetry");
        var prometheusPort = FreePort.Next();
        var environment = new Dictionary<string, string?>
        {
            ["Cluster__SiloPort"] = FreePort.Next().ToString(CultureInfo.InvariantCulture),
            ["Cluster__GatewayPort"] = FreePort.Next().ToString(CultureInfo.InvariantCulture),
            ["Storage__Sqlite__DatabasePath"] = Path.Combine(data, "sessions.db"),
            ["Telemetry__PrometheusPort"] = prometheusPort.ToString(CultureInfo.InvariantCulture),
        };
        foreach (var (key, value) in collector.Settings)
        {
            environment[key] = value;
        }

        await using var silo = ServiceProcess.Start(RepoPaths.SiloDll, [], environment);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var metrics = "";
        for (var deadline = DateTime.UtcNow.AddSeconds(60); DateTime.UtcNow < deadline && !metrics.Contains("orleans_", StringComparison.Ordinal);)
        {
            try
            {
                metrics = await http.GetStringAsync($"http://localhost:{prometheusPort}/metrics");
            }
            catch (HttpRequestException)
            {
                await Task.Delay(250); // not listening yet
            }
        }

        Assert.True(metrics.Contains("orleans_", StringComparison.Ordinal), "no Orleans metrics on the silo's Prometheus endpoint:\n" + silo.Output);
        Assert.Contains("service_name=\"sessiontracking-silo\"", metrics); // target_info
        Assert.True(
            await collector.WaitForAsync("metrics", TimeSpan.FromSeconds(30), "sessiontracking-silo", "orleans"),
            "no OTLP metrics from the silo; got: " + string.Join(", ", collector.Received.Select(r => $"{r.Signal} {r.Body.Length} B")));
        Assert.True(await collector.WaitForAsync("logs", TimeSpan.FromSeconds(30), "sessiontracking-silo"), "no OTLP logs from the silo");
    }
}
