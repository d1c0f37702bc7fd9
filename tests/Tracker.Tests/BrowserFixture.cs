using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Playwright;
using SessionTracking.TestSupport;

namespace SessionTracking.Tracker.Tests;

/// <summary>
/// One real gateway process and one headless Chromium (<see cref="BrowserGateway"/>) for all tracker tests. Test pages
/// are served at the gateway's origin by Playwright routing (<c>/__test/…</c>), so the tracker they load
/// (<c>/tracker.js</c>) and the API it calls are the gateway's own.
/// </summary>
public sealed class BrowserFixture : BrowserGateway
{
    public BrowserFixture()
    {
        // Slow enough offline "model" that the demo's Stop button has an answer to stop.
        Environment = new Dictionary<string, string?> { ["Query__OfflineTokenDelayMs"] = "60" };
    }

    /// <summary>A fresh browser profile (own localStorage) whose <c>/__test/*.html</c> pages are <see cref="TestPages"/>.</summary>
    public async Task<IBrowserContext> NewContextAsync()
    {
        var context = await Browser.NewContextAsync(new BrowserNewContextOptions { BaseURL = BaseAddress.ToString(), ViewportSize = new ViewportSize { Width = 1000, Height = 700 } });
        await RouteTestPagesAsync(context);
        return context;
    }

    public static Task RouteTestPagesAsync(IBrowserContext context) =>
        context.RouteAsync("**/__test/**", route => route.FulfillAsync(new RouteFulfillOptions
        {
            Status = 200,
            ContentType = "text/html; charset=utf-8",
            Body = TestPages.Tracked,
        }));

    /// <summary>Opens the tracked test page with these tracker options and returns its session id.</summary>
    public static async Task<(IPage Page, string SessionId)> OpenTrackedPageAsync(IBrowserContext context, object options, string path = "/__test/page.html")
    {
        var page = await context.NewPageAsync();
        await page.AddInitScriptAsync($"window.__trackerOptions = {JsonSerializer.Serialize(options)};");
        await page.GotoAsync(path);
        var sessionId = await page.EvaluateAsync<string>("() => window.trackerReady.then(t => t.sessionId)");
        Assert.False(string.IsNullOrEmpty(sessionId));
        return (page, sessionId);
    }

    /// <summary>
    /// Closes the tab as a user does (unload handlers run: pagehide, visibilitychange) and waits until it is gone.
    /// Its context must stay open meanwhile: closing a context also cancels the beacons its pages left behind.
    /// </summary>
    public static async Task CloseTabAsync(IPage page)
    {
        // While any route is installed Playwright pauses EVERY request of the context until it has decided, and a
        // beacon paused that way dies with its tab: an artefact of interception that no user's browser has. So the
        // routes (test pages) go first; the page is loaded already.
        await page.Context.UnrouteAllAsync(new BrowserContextUnrouteAllOptions { Behavior = UnrouteBehavior.Wait });
        var closed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        page.Close += (_, _) => closed.TrySetResult();
        await page.CloseAsync(new PageCloseOptions { RunBeforeUnload = true });
        await closed.Task.WaitAsync(TimeSpan.FromSeconds(10));
    }

    public async Task<JsonElement> GetSessionAsync(string sessionId)
    {
        using var response = await Http.GetAsync($"/session/{sessionId}");
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"GET /session/{sessionId} answered {(int)response.StatusCode}: {text}");
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    /// <summary>Polls GET /session/{id} until <paramref name="done"/> holds (beacons are delivered asynchronously).</summary>
    public async Task<JsonElement> WaitForSessionAsync(string sessionId, Func<JsonElement, bool> done, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(15));
        while (true)
        {
            var session = await GetSessionAsync(sessionId);
            if (done(session))
            {
                return session;
            }

            if (DateTime.UtcNow > deadline)
            {
                return session; // the caller's assertions show what is missing
            }

            await Task.Delay(100);
        }
    }

    public async Task<string> StartSessionAsync()
    {
        using var response = await Http.PostAsJsonAsync("/session/start", new { user_id = "tests", model_group = "g" });
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("session_id").GetString()!;
    }
}

[CollectionDefinition(Name)]
public sealed class BrowserCollection : ICollectionFixture<BrowserFixture>
{
    public const string Name = "browser";
}

/// <summary>Reading events out of a session document.</summary>
internal static class SessionDocument
{
    public static IReadOnlyList<JsonElement> Events(this JsonElement session) => [.. session.GetProperty("events").EnumerateArray()];

    public static IReadOnlyList<JsonElement> Events(this JsonElement session, string type) =>
        [.. session.Events().Where(e => e.GetProperty("type").GetString() == type)];

    public static bool HasEnded(this JsonElement session) => session.GetProperty("end_time").ValueKind == JsonValueKind.String;

    public static string Types(this JsonElement session) => string.Join(",", session.Events().Select(e => e.GetProperty("type").GetString()));
}
