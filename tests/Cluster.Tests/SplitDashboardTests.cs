using System.Globalization;
using System.Net;
using System.Text.Json;
using SessionTracking.TestSupport;

namespace SessionTracking.Cluster.Tests;

/// <summary>
/// Split mode: the dashboard's grains run on a standalone silo, its UI is served by a client-mode gateway, behind the
/// operator key; a browser's sign-in cookie (issued by that gateway, nothing on the silo) opens it like the key does.
/// </summary>
[TestCategory("SlowBVT")]
public sealed class SplitDashboardTests
{
    private const string OperatorKey = "split-dashboard-operator-key";

    [Fact]
    public async Task A_client_mode_gateway_serves_the_dashboard_of_a_standalone_silo()
    {
        var data = RepoPaths.NewTempDirectory("split-dashboard");
        var gatewayPort = FreePort.Next();
        await using var silo = ServiceProcess.Start(RepoPaths.SiloDll, [], new Dictionary<string, string?>
        {
            ["Cluster__SiloPort"] = FreePort.Next().ToString(CultureInfo.InvariantCulture),
            ["Cluster__GatewayPort"] = gatewayPort.ToString(CultureInfo.InvariantCulture),
            ["Storage__Sqlite__DatabasePath"] = Path.Combine(data, "sessions.db"),
            ["Dashboard__Enabled"] = "true",
        });
        var (gateway, address) = ServiceProcess.StartGateway(data, new Dictionary<string, string?>
        {
            ["Orleans__Mode"] = "Client",
            ["Cluster__GatewayPorts__0"] = gatewayPort.ToString(CultureInfo.InvariantCulture),
            ["Dashboard__Enabled"] = "true",
            ["Security__OperatorApiKey"] = OperatorKey,
        });
        await using var _ = gateway;
        await gateway.WaitUntilReadyAsync(new Uri(address, "/readyz"), TimeSpan.FromSeconds(90));
        // A cookie jar, as a browser keeps: signing in stores the operator cookie, later requests send it.
        using var http = new HttpClient(new HttpClientHandler { CookieContainer = new CookieContainer() }) { BaseAddress = address, Timeout = TimeSpan.FromSeconds(30) };
        using (var anonymous = await http.GetAsync("/dashboard/DashboardCounters"))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        }

        using (var signIn = await http.PostAsync("/auth/signin", new StringContent($$"""{"key":"{{OperatorKey}}"}""", System.Text.Encoding.UTF8, "application/json")))
        {
            Assert.Equal(HttpStatusCode.NoContent, signIn.StatusCode);
        }

        // A session goes through the silo, and the silo's dashboard counters (fetched through the gateway) list it.
        using var started = await http.PostAsync("/session/start", new StringContent("""{"user_id":"d","model_group":"g"}""", System.Text.Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.Created, started.StatusCode);
        JsonElement counters = default;
        for (var attempt = 0; attempt < 40; attempt++)
        {
            using var response = await http.GetAsync("/dashboard/DashboardCounters");
            if (response.StatusCode == HttpStatusCode.OK)
            {
                counters = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();
                if (counters.GetProperty("hosts").GetArrayLength() > 0)
                {
                    break;
                }
            }

            await Task.Delay(500); // the dashboard collects its counters every second or so
        }

        Assert.True(counters.ValueKind == JsonValueKind.Object, "no dashboard counters through the gateway:\n" + gateway.Output + "\n" + silo.Output);
        Assert.Equal(1, counters.GetProperty("hosts").GetArrayLength());

        using var page = await http.GetAsync("/dashboard/");
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Contains("Orleans Dashboard", await page.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }
}
