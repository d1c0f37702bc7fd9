using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Playwright;
using SessionTracking.TestSupport;

namespace SessionTracking.OperatorAccess.Tests;

/// <summary>
/// For all operator sign-in tests: an OpenID Connect provider (node, loopback), a real gateway process configured with
/// an operator key and that provider, a second gateway whose sign-ins last six seconds (for expiry), and headless
/// Debian Chromium.
/// </summary>
public sealed class OperatorFixture : IAsyncLifetime
{
    public const string Key = "operator-key-for-browser-tests";
    public const string AllowedGroup = "session-operators";
    public const string ProviderName = "Test IdP";
    public static readonly TimeSpan ShortLifetime = TimeSpan.FromSeconds(6);

    private readonly string _dataDirectory = RepoPaths.NewTempDirectory("operator-access");
    private readonly string _shortDataDirectory = RepoPaths.NewTempDirectory("operator-access-short");
    private ServiceProcess? _gateway;
    private ServiceProcess? _shortGateway;
    private HeadlessChromium? _chromium;

    public OidcProviderProcess Provider { get; private set; } = null!;

    /// <summary>The gateway with key and OpenID Connect sign-in.</summary>
    public Uri BaseAddress { get; private set; } = null!;

    /// <summary>A gateway with the same key whose sign-ins expire after <see cref="ShortLifetime"/>.</summary>
    public Uri ShortBaseAddress { get; private set; } = null!;

    public IBrowser Browser => _chromium?.Browser ?? throw new InvalidOperationException("The browser is not started.");

    /// <summary>A program's client of <see cref="BaseAddress"/>: the key in X-Api-Key.</summary>
    public HttpClient Http { get; private set; } = null!;

    public string GatewayOutput => _gateway?.Output ?? "";

    public async Task InitializeAsync()
    {
        var port = FreePort.Next();
        BaseAddress = new Uri($"http://127.0.0.1:{port}");
        Provider = await OidcProviderProcess.StartAsync("session-tracking-gateway", "client-secret-for-tests", $"{BaseAddress}signin-oidc", AllowedGroup);

        (_gateway, _) = ServiceProcess.StartGateway(_dataDirectory, new Dictionary<string, string?>
        {
            ["Security__OperatorApiKey"] = Key,
            ["Security__SignIn__AttemptsPerMinute"] = "1000",
            ["Security__OpenIdConnect__Authority"] = Provider.Authority,
            ["Security__OpenIdConnect__ClientId"] = "session-tracking-gateway",
            ["Security__OpenIdConnect__ClientSecret"] = "client-secret-for-tests",
            ["Security__OpenIdConnect__Scopes__0"] = "groups",
            ["Security__OpenIdConnect__AllowedGroups__0"] = AllowedGroup,
            ["Security__OpenIdConnect__DisplayName"] = ProviderName,
            // Every request's start and answer in the output, which the cross-site test reads.
            ["Logging__LogLevel__Microsoft.AspNetCore.Hosting.Diagnostics"] = "Information",
        }, port);
        (_shortGateway, ShortBaseAddress) = ServiceProcess.StartGateway(_shortDataDirectory, new Dictionary<string, string?>
        {
            ["Security__OperatorApiKey"] = Key,
            ["Security__SignIn__Lifetime"] = ShortLifetime.ToString("c", CultureInfo.InvariantCulture),
            ["Dashboard__Enabled"] = "false",
        });
        Http = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
        Http.DefaultRequestHeaders.Add("X-Api-Key", Key);
        var ready = Task.WhenAll(
            _gateway.WaitUntilReadyAsync(new Uri(BaseAddress, "/readyz"), TimeSpan.FromSeconds(120)),
            _shortGateway.WaitUntilReadyAsync(new Uri(ShortBaseAddress, "/readyz"), TimeSpan.FromSeconds(120)));

        _chromium = await HeadlessChromium.LaunchAsync();
        await ready;
    }

    /// <summary>A fresh browser profile (no cookies) on <paramref name="baseAddress"/> (default: the main gateway).</summary>
    public async Task<IBrowserContext> NewContextAsync(Uri? baseAddress = null)
    {
        var context = await Browser.NewContextAsync(new BrowserNewContextOptions
        {
            BaseURL = (baseAddress ?? BaseAddress).ToString(),
            ViewportSize = new ViewportSize { Width = 1300, Height = 900 },
        });
        // The provider's development pages import a web font; there is no internet here.
        await context.RouteAsync("https://fonts.googleapis.com/**", route => route.AbortAsync());
        return context;
    }

    /// <summary>Records one ended session (two exchanges, feedback) with the key, as the tracker would; returns its id.</summary>
    public async Task<string> RecordSessionAsync(string userId, string group = "model-a")
    {
        using var start = await Http.PostAsJsonAsync("/session/start", new { user_id = userId, model_group = group, experiment_id = "operator-exp" });
        start.EnsureSuccessStatusCode();
        var sessionId = (await start.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("session_id").GetString()!;
        using var events = await Http.PostAsync("/session/event", new StringContent(
            $$$"""{"session_id":"{{{sessionId}}}","events":[{"type":"prompt","data":{"text":"q"}},{"type":"model_response","data":{"text":"a","latency_ms":120}},{"type":"feedback","data":{"feedback":"up"}}],"end":true}""",
            System.Text.Encoding.UTF8, "application/json"));
        events.EnsureSuccessStatusCode();
        return sessionId;
    }

    public async Task DisposeAsync()
    {
        if (_chromium is not null)
        {
            await _chromium.DisposeAsync();
        }

        Http?.Dispose();
        foreach (var process in new[] { _gateway, _shortGateway })
        {
            if (process is not null)
            {
                await process.DisposeAsync();
            }
        }

        if (Provider is not null)
        {
            await Provider.DisposeAsync();
        }

        foreach (var directory in new[] { _dataDirectory, _shortDataDirectory })
        {
            try
            {
                Directory.Delete(directory, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }
}

[CollectionDefinition(Name)]
public sealed class OperatorCollection : ICollectionFixture<OperatorFixture>
{
    public const string Name = "operator";
}
