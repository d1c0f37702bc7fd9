using System.Net;
using SessionTracking.TestSupport;
using StackExchange.Redis;

namespace SessionTracking.Cluster.Tests;

/// <summary>
/// Two client-mode gateways behind one entry point must accept each other's operator cookies: on Redis membership they
/// keep the cookie's key ring in that Redis. Each gateway gets its own HOME, so the framework's default key ring (in
/// the user profile) would differ between them, as on two machines.
/// </summary>
[TestCategory("SlowBVT")]
public sealed class SharedSignInTests
{
    private const string Key = "shared-sign-in-operator-key";

    [Fact]
    public async Task A_cookie_issued_by_one_gateway_is_accepted_by_the_other()
    {
        await using var cluster = await ProcessCluster.StartAsync(silos: 1, new() { ["Security__OperatorApiKey"] = Key });
        var homes = new[] { RepoPaths.NewTempDirectory("gateway-home"), RepoPaths.NewTempDirectory("gateway-home") };
        try
        {
            var (_, first) = await cluster.StartGatewayAsync(new() { ["HOME"] = homes[0] });
            var (_, second) = await cluster.StartGatewayAsync(new() { ["HOME"] = homes[1] });

            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
            using var signIn = await http.PostAsync(new Uri(first, "/auth/signin"), new StringContent($$"""{"key":"{{Key}}"}""", System.Text.Encoding.UTF8, "application/json"));
            Assert.Equal(HttpStatusCode.NoContent, signIn.StatusCode);
            var cookie = signIn.Headers.GetValues("Set-Cookie").Single(c => c.StartsWith("SessionTracking.Operator=", StringComparison.Ordinal)).Split(';')[0];

            foreach (var gateway in new[] { first, second })
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(gateway, "/analytics"));
                request.Headers.Add("Cookie", cookie);
                using var response = await http.SendAsync(request);
                Assert.True(response.StatusCode == HttpStatusCode.OK, $"{gateway}: {(int)response.StatusCode}\n{cluster.RecentOutput()}");
            }

            using var redis = await ConnectionMultiplexer.ConnectAsync(cluster.RedisConnectionString);
            Assert.True(await redis.GetDatabase().KeyExistsAsync("session-tracking:gateway-data-protection-keys"), "the key ring is not in Redis");
        }
        finally
        {
            foreach (var home in homes)
            {
                TempDirectory.Delete(home);
            }
        }
    }
}
