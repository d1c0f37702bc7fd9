using Microsoft.Playwright;
using Xunit;

namespace SessionTracking.TestSupport;

/// <summary>
/// A real gateway process (co-hosted silo, SQLite in a temp directory, free ports) and one <see cref="HeadlessChromium"/>:
/// the base of the browser tests (slow lane). Use it, or a subclass that sets <see cref="Environment"/> in its
/// constructor, as a class or collection fixture.
/// </summary>
public class BrowserGateway : IAsyncLifetime
{
    private readonly TempDirectory _data = new("browser-gateway");
    private ServiceProcess? _gateway;
    private HeadlessChromium? _chromium;

    /// <summary>Environment variables of the gateway process (<c>Section__Key</c> → value).</summary>
    public IReadOnlyDictionary<string, string?> Environment { get; init; } = new Dictionary<string, string?>();

    public Uri BaseAddress { get; private set; } = null!;

    public IBrowser Browser => _chromium?.Browser ?? throw new InvalidOperationException("The browser is not started.");

    /// <summary>A client of the gateway (30 s timeout).</summary>
    public HttpClient Http { get; private set; } = null!;

    /// <summary>What the gateway process wrote so far, for failure messages.</summary>
    public string GatewayOutput => _gateway?.Output ?? "";

    public async Task InitializeAsync()
    {
        (_gateway, BaseAddress) = ServiceProcess.StartGateway(_data.Path, Environment);
        Http = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
        var ready = _gateway.WaitUntilReadyAsync(new Uri(BaseAddress, "/readyz"), TimeSpan.FromSeconds(90));
        _chromium = await HeadlessChromium.LaunchAsync();
        await ready;
    }

    public async Task DisposeAsync()
    {
        if (_chromium is not null)
        {
            await _chromium.DisposeAsync();
        }

        Http?.Dispose();
        if (_gateway is not null)
        {
            await _gateway.DisposeAsync();
        }

        _data.Dispose();
    }
}
