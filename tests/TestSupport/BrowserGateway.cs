using Microsoft.Playwright;
using Xunit;

namespace SessionTracking.TestSupport;

/// <summary>
/// A real gateway process (co-hosted silo, SQLite in a temp directory, free ports) and one headless Debian Chromium
/// (<c>/usr/bin/chromium</c> through Playwright): the base of the browser tests (slow lane). Use it, or a subclass
/// that sets <see cref="Environment"/> in its constructor, as a class or collection fixture.
/// </summary>
public class BrowserGateway : IAsyncLifetime
{
    public const string ChromiumPath = "/usr/bin/chromium";

    private readonly TempDirectory _data = new("browser-gateway");
    private ServiceProcess? _gateway;
    private IPlaywright? _playwright;

    /// <summary>Environment variables of the gateway process (<c>Section__Key</c> → value).</summary>
    public IReadOnlyDictionary<string, string?> Environment { get; init; } = new Dictionary<string, string?>();

    public Uri BaseAddress { get; private set; } = null!;

    public IBrowser Browser { get; private set; } = null!;

    /// <summary>A client of the gateway (30 s timeout).</summary>
    public HttpClient Http { get; private set; } = null!;

    /// <summary>What the gateway process wrote so far, for failure messages.</summary>
    public string GatewayOutput => _gateway?.Output ?? "";

    public async Task InitializeAsync()
    {
        if (!File.Exists(ChromiumPath))
        {
            throw new InvalidOperationException($"{ChromiumPath} is missing: install Debian's chromium (apt-get install -y chromium); ./test.sh does it when it may.");
        }

        (_gateway, BaseAddress) = ServiceProcess.StartGateway(_data.Path, Environment);
        Http = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
        var ready = _gateway.WaitUntilReadyAsync(new Uri(BaseAddress, "/readyz"), TimeSpan.FromSeconds(90));

        _playwright = await Playwright.CreateAsync();
        Browser = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = ChromiumPath,
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
        });
        await ready;
    }

    public async Task DisposeAsync()
    {
        if (Browser is not null)
        {
            await Browser.CloseAsync();
        }

        _playwright?.Dispose();
        Http?.Dispose();
        if (_gateway is not null)
        {
            await _gateway.DisposeAsync();
        }

        _data.Dispose();
    }
}
