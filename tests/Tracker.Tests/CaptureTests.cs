using System.Text.Json;
using Microsoft.Playwright;
using SessionTracking.TestSupport;

namespace SessionTracking.Tracker.Tests;

/// <summary>Every automatically captured event type reaches GET /session/{id} after the real user action.</summary>
[TestCategory("SlowBVT")]
[Collection(BrowserCollection.Name)]
public sealed class CaptureTests(BrowserFixture fixture)
{
    [Fact]
    public async Task Each_automatically_captured_type_is_recorded_after_the_user_action()
    {
        await using var context = await fixture.NewContextAsync();
        var (page, sessionId) = await BrowserFixture.OpenTrackedPageAsync(context, new
        {
            trackHover = true,
            hoverDelay = 200,
            scrollThrottle = 100,
            activityIdleTimeout = 1000,
            flushInterval = 200,
        });

        // activity: no input for the idle timeout, then the mouse moves.
        await page.WaitForTimeoutAsync(1300);
        await page.Mouse.MoveAsync(5, 5);

        await page.ClickAsync("#btn");                                   // click
        await page.HoverAsync("#hover-target");                          // hover (rests > hoverDelay)
        await page.WaitForTimeoutAsync(400);
        await page.ClickAsync("#para", new PageClickOptions { ClickCount = 3 }); // selection
        await page.WaitForTimeoutAsync(500);
        await page.Keyboard.PressAsync("Control+C");                     // copy (and the key shortcut)
        await page.ClickAsync("#spa-link");                              // navigate (SPA history)
        await page.ClickAsync("#name");
        await page.Keyboard.PressAsync("Tab");                           // key
        await page.ClickAsync("#throw");                                 // error (uncaught)
        await page.ClickAsync("#reject");                                // error (unhandled rejection)
        await page.Mouse.WheelAsync(0, 900);                             // scroll
        await page.WaitForTimeoutAsync(400);
        await page.Mouse.WheelAsync(0, -300);
        await page.WaitForTimeoutAsync(400);

        Assert.True(await page.EvaluateAsync<bool>("() => window.tracker.flush()"));
        var session = await fixture.GetSessionAsync(sessionId);
        var types = session.Types();

        var navigate = session.Events("navigate");
        Assert.Contains(navigate, e => Str(e, "page_url").EndsWith("/__test/page.html", StringComparison.Ordinal));
        Assert.Contains(navigate, e => Str(e, "page_url").EndsWith("/__test/page.html?view=details", StringComparison.Ordinal));

        var click = Assert.Single(session.Events("click"), e => Str(e, "target_id") == "btn");
        Assert.Equal("BUTTON", Str(click, "target"));
        Assert.True(Data(click).GetProperty("x").GetInt32() > 0);
        Assert.True(Data(click).GetProperty("y").GetInt32() > 0);
        Assert.EndsWith("/__test/page.html", Str(click, "page_url"), StringComparison.Ordinal);

        Assert.Contains(session.Events("hover"), e => Str(e, "target") == "DIV" && Data(e).GetProperty("x").GetInt32() > 0);
        Assert.Contains(session.Events("selection"), e => Str(e, "selected_text").StartsWith("Machine learning is the study", StringComparison.Ordinal));
        Assert.Contains(session.Events("copy"), e => Str(e, "selected_text").StartsWith("Machine learning is the study", StringComparison.Ordinal));
        Assert.Contains(session.Events("key"), e => Str(e, "target") == "Tab");
        Assert.Contains(session.Events("key"), e => Str(e, "target") == "Control+C");

        var activity = session.Events("activity").Select(e => Str(e, "activity_state")).ToList();
        Assert.True(activity.IndexOf("idle") >= 0 && activity.IndexOf("active") > activity.IndexOf("idle"), $"activity: {string.Join(",", activity)}");

        var errors = session.Events("error");
        Assert.Contains(errors, e => Str(e, "error_code") == "TypeError" && Str(e, "text").Contains("boom from test", StringComparison.Ordinal));
        Assert.Contains(errors, e => Str(e, "error_code") == "unhandled_rejection" && Str(e, "text") == "rejected in test");

        var scrolls = session.Events("scroll");
        Assert.Contains(scrolls, e => Str(e, "direction") == "down" && Data(e).GetProperty("scrollY").GetInt32() > 0 && Data(e).GetProperty("speed").GetInt32() > 0);
        Assert.Contains(scrolls, e => Str(e, "direction") == "up");

        // Environment detection as in the guide, sent with the start.
        var environment = session.GetProperty("environment");
        Assert.Equal("desktop", environment.GetProperty("device").GetString());
        Assert.Equal("Chrome", environment.GetProperty("browser").GetString());
        Assert.Equal("Linux", environment.GetProperty("os").GetString());
        Assert.Equal(1000, environment.GetProperty("viewport").GetProperty("width").GetInt32());
        Assert.Equal(700, environment.GetProperty("viewport").GetProperty("height").GetInt32());
        Assert.False(string.IsNullOrEmpty(environment.GetProperty("language").GetString()));
        Assert.False(string.IsNullOrEmpty(environment.GetProperty("connection").GetString()));
        Assert.Equal("tracker-tests", session.GetProperty("experiment_id").GetString());

        // Every event carries the tracker's client id, and none was stored twice.
        var ids = session.Events().Select(e => e.GetProperty("id").GetString()).ToList();
        Assert.All(ids, id => Assert.False(string.IsNullOrEmpty(id)));
        Assert.Equal(ids.Count, ids.Distinct().Count());
        Assert.False(string.IsNullOrEmpty(types));
    }

    [Fact]
    public async Task End_sends_the_remaining_events_and_the_end_in_one_request()
    {
        await using var context = await fixture.NewContextAsync();
        var (page, sessionId) = await BrowserFixture.OpenTrackedPageAsync(context, new { flushInterval = 60000, batchSize = 100 });
        var bodies = new List<string>();
        page.Request += (_, request) =>
        {
            if (request.Url.EndsWith("/session/event", StringComparison.Ordinal) && request.PostData is { } body)
            {
                bodies.Add(body);
            }
        };
        await page.EvaluateAsync("() => { for (let i = 0; i < 5; i++) window.tracker.logEvent('custom_step', { i }); }");
        Assert.True(await page.EvaluateAsync<bool>("() => window.tracker.end()"));

        var body = Assert.Single(bodies);
        using var json = JsonDocument.Parse(body);
        Assert.True(json.RootElement.GetProperty("end").GetBoolean());
        Assert.Equal(6, json.RootElement.GetProperty("events").GetArrayLength()); // navigate + 5

        var session = await fixture.GetSessionAsync(sessionId);
        Assert.True(session.HasEnded());
        Assert.Equal(5, session.Events("custom_step").Count);
        Assert.False(await page.EvaluateAsync<bool>("() => window.tracker.logEvent('late', {})"));
    }

    internal static JsonElement Data(JsonElement e) => e.GetProperty("data");

    internal static string Str(JsonElement e, string field) =>
        Data(e).TryGetProperty(field, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString()! : "";
}
