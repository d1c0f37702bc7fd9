using System.Net;
using SessionTracking.Gateway.Security;
using SessionTracking.TestSupport;

namespace SessionTracking.Gateway.Tests;

/// <summary>One gateway with an operator key, a CORS allowlist and a low per-session rate, shared by these tests.</summary>
public sealed class SecuredGateway : GatewayHost
{
    public const string Key = "operator-key-for-tests";

    public SecuredGateway()
    {
        Settings = new Dictionary<string, string>
        {
            ["Security:OperatorApiKey"] = Key,
            ["Security:AllowedOrigins:0"] = "https://chat.example.com",
            ["Sessions:RequestsPerSecond"] = "5",
        };
    }
}

[TestCategory("BVT")]
public sealed class SecurityTests(SecuredGateway gateway) : IClassFixture<SecuredGateway>
{
    private const string Key = SecuredGateway.Key;
    private readonly HttpClient _client = gateway.CreateClient();

    [Fact]
    public async Task Reading_a_session_needs_the_operator_key_when_one_is_configured()
    {
        var id = await _client.StartSessionAsync();

        using var anonymous = await _client.GetAsync($"/session/{id}");
        using var wrong = await Get($"/session/{id}", ("X-Api-Key", "nope"));
        using var header = await Get($"/session/{id}", ("X-Api-Key", Key));
        using var bearer = await Get($"/session/{id}", ("Authorization", $"Bearer {Key}"));

        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        Assert.Equal("application/problem+json", anonymous.Content.Headers.ContentType?.MediaType);
        Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
        Assert.Equal(HttpStatusCode.OK, header.StatusCode);
        Assert.Equal(HttpStatusCode.OK, bearer.StatusCode);
    }

    [Fact]
    public async Task Writing_needs_only_the_session_id_and_forged_ids_are_refused()
    {
        var id = await _client.StartSessionAsync();
        var forged = id[..^1] + (id[^1] == 'A' ? 'B' : 'A');

        var own = await _client.PostAsync("/session/event", $$"""{"session_id":"{{id}}","type":"click"}""");
        var guessed = await _client.PostAsync("/session/event", $$"""{"session_id":"{{forged}}","type":"click"}""");
        var truncated = await _client.PostAsync("/session/event", $$"""{"session_id":"{{id[..12]}}","type":"click"}""");

        Assert.Equal(200, own.Status);
        Assert.Equal(404, guessed.Status);
        Assert.Equal(404, truncated.Status);
    }

    [Fact]
    public async Task A_session_over_its_rate_gets_429_with_retry_after_and_keeps_what_was_accepted()
    {
        var id = await _client.StartSessionAsync();
        var statuses = new List<int>();
        string? retryAfter = null;
        for (var i = 0; i < 40; i++)
        {
            using var response = await _client.PostAsync("/session/event", Api.Json($$"""{"session_id":"{{id}}","type":"click","id":"r{{i}}"}"""));
            statuses.Add((int)response.StatusCode);
            retryAfter ??= response.StatusCode == HttpStatusCode.TooManyRequests ? response.Headers.RetryAfter?.ToString() : null;
        }

        using var read = await Get($"/session/{id}", ("X-Api-Key", Key));
        var document = await read.Content.ReadAsStringAsync();
        var accepted = statuses.Count(s => s == 200);

        Assert.Contains(429, statuses);
        Assert.All(statuses, s => Assert.True(s is 200 or 429, $"unexpected {s}"));
        Assert.NotNull(retryAfter);
        Assert.True(accepted >= 10, $"{accepted} accepted: the burst allowance is two seconds' worth");
        Assert.Equal(accepted, System.Text.Json.JsonDocument.Parse(document).RootElement.GetProperty("events").GetArrayLength());
    }

    [Fact]
    public async Task Cors_allows_configured_origins_only()
    {
        using var allowed = await Preflight("https://chat.example.com");
        using var other = await Preflight("https://evil.example.net");

        Assert.Equal("https://chat.example.com", allowed.Headers.GetValues("Access-Control-Allow-Origin").Single());
        Assert.False(other.Headers.Contains("Access-Control-Allow-Origin"));
    }

    [Theory]
    [InlineData("http://0.0.0.0:8000", "http://localhost:8000")]
    [InlineData("http://*:8000", "http://localhost:8000")]
    [InlineData("http://+:80/base", "http://localhost:80/base")]
    [InlineData("http://[::]:9000", "http://localhost:9000")]
    [InlineData("http://10.1.2.3:8000", "http://localhost:8000")]
    [InlineData("http://127.0.0.1:8000", "http://127.0.0.1:8000")]
    [InlineData("http://[::1]:8000", "http://[::1]:8000")]
    [InlineData("http://localhost:8000", "http://localhost:8000")]
    public void Without_a_key_every_listen_address_becomes_loopback(string url, string expected) =>
        Assert.Equal(expected, ListenAddresses.ToLoopback(url));

    private async Task<HttpResponseMessage> Get(string path, (string Name, string Value) header)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.TryAddWithoutValidation(header.Name, header.Value);
        return await _client.SendAsync(request);
    }

    private async Task<HttpResponseMessage> Preflight(string origin)
    {
        using var request = new HttpRequestMessage(HttpMethod.Options, "/session/event");
        request.Headers.Add("Origin", origin);
        request.Headers.Add("Access-Control-Request-Method", "POST");
        request.Headers.Add("Access-Control-Request-Headers", "content-type");
        return await _client.SendAsync(request);
    }
}
