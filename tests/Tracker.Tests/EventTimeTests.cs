using System.Collections.Concurrent;
using System.Text.Json;
using Microsoft.Playwright;
using SessionTracking.TestSupport;

namespace SessionTracking.Tracker.Tests;

/// <summary>
/// <c>sent_at</c> from a page whose clock is 10 minutes ahead: every request carries the page's clock at its own send
/// (a retry a later one), and the server stores times on its own clock in <c>corrected_t</c> while <c>t</c> keeps the
/// page's skewed value. Browser and gateway run on one machine, so the page's real clock is the server's.
/// </summary>
[TestCategory("SlowBVT")]
[Collection(BrowserCollection.Name)]
public sealed class EventTimeTests(BrowserFixture fixture)
{
    private const long Skew = 10 * 60_000;

    [Fact]
    public async Task A_page_clock_ten_minutes_ahead_is_corrected_for_fetches_retries_and_the_close_beacon()
    {
        await using var context = await fixture.NewContextAsync();
        // The page's Date.now runs 10 minutes ahead; window.__realNow is the machine's clock, for the events' data.
        await context.AddInitScriptAsync($$"""
            (() => { const real = Date.now.bind(Date); window.__realNow = real; Date.now = () => real() + {{Skew}}; })();
            """);
        var bodies = new ConcurrentQueue<(long ReceivedHere, JsonElement Body, int Status)>();
        var attempts = 0;
        await context.RouteAsync("**/session/event", async route =>
        {
            var body = JsonDocument.Parse(route.Request.PostData!).RootElement.Clone();
            var here = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            if (Interlocked.Increment(ref attempts) == 1)
            {
                // The first batch is refused: its retry must carry the time of the retry, not of the first attempt.
                bodies.Enqueue((here, body, 503));
                await route.FulfillAsync(new RouteFulfillOptions { Status = 503, ContentType = "application/problem+json", Headers = new Dictionary<string, string> { ["Retry-After"] = "1" }, Body = """{"status":503,"title":"Unavailable"}""" });
                return;
            }

            bodies.Enqueue((here, body, 200));
            await route.ContinueAsync();
        });

        var (page, sessionId) = await BrowserFixture.OpenTrackedPageAsync(context, new { flushInterval = 100, batchSize = 50, retryBaseDelay = 100, trackActivity = false });
        await page.EvaluateAsync("() => { for (let i = 0; i < 5; i++) window.tracker.logEvent('timed', { i, real: window.__realNow() }); }");
        Assert.True(await page.EvaluateAsync<bool>("() => window.tracker.flush()"));
        await page.EvaluateAsync("() => { for (let i = 5; i < 8; i++) window.tracker.logEvent('timed', { i, real: window.__realNow() }); }");
        await BrowserFixture.CloseTabAsync(page); // these three travel in the close beacon, with the end
        var session = await fixture.WaitForSessionAsync(sessionId, s => s.HasEnded() && s.Events("timed").Count == 8);

        // The requests: each says the page's (skewed) clock at its send; the retry a second or more after the first.
        var sent = bodies.ToArray();
        Assert.True(sent.Length >= 2, $"{sent.Length} requests");
        Assert.Equal(503, sent[0].Status);
        Assert.Equal(Ids(sent[0].Body), Ids(sent[1].Body).Take(Ids(sent[0].Body).Length)); // resent (with what was logged meanwhile)
        foreach (var (receivedHere, body, _) in sent)
        {
            Assert.InRange(body.GetProperty("sent_at").GetInt64() - Skew, receivedHere - 2_000, receivedHere + 50);
        }

        Assert.True(sent[1].Body.GetProperty("sent_at").GetInt64() - sent[0].Body.GetProperty("sent_at").GetInt64() >= 950, "the retry was stamped with the first attempt's time");

        // The stored events: t as the page sent it (10 minutes ahead), corrected_t on the machine's clock.
        Assert.True(session.HasEnded());
        var timed = session.Events("timed");
        Assert.Equal(Enumerable.Range(0, 8), timed.Select(e => e.GetProperty("data").GetProperty("i").GetInt32()));
        foreach (var e in session.Events())
        {
            var t = e.GetProperty("t").GetInt64();
            var received = e.GetProperty("received_at").GetInt64();
            var corrected = e.GetProperty("corrected_t").GetInt64();
            Assert.InRange(t - received, Skew - 15_000, Skew + 50);          // t keeps the skew
            Assert.InRange(received - corrected, 0, 5_000);                  // corrected: at or shortly before the receipt
            Assert.InRange(corrected - (t - Skew), -50, 3_000);              // and the real event time plus the request's transit
        }

        foreach (var e in timed)
        {
            var real = e.GetProperty("data").GetProperty("real").GetInt64();
            Assert.InRange(e.GetProperty("corrected_t").GetInt64() - real, -50, 3_000);
        }
    }

    [Fact]
    public async Task The_timeline_places_a_skewed_pages_events_by_their_corrected_time()
    {
        await using var context = await fixture.NewContextAsync();
        await context.AddInitScriptAsync($$"""
            (() => { const real = Date.now.bind(Date); Date.now = () => real() + {{Skew}}; })();
            """);
        var (page, sessionId) = await BrowserFixture.OpenTrackedPageAsync(context, new { flushInterval = 100, trackActivity = false });
        await page.EvaluateAsync("() => { window.tracker.logEvent('timed', { i: 0 }); return window.tracker.end(); }");
        await page.CloseAsync();

        // The timeline (an operator page, open on loopback without a key) draws from the document alone, not its own clock.
        var timeline = await context.NewPageAsync();
        await timeline.GotoAsync($"/timeline.html?session_id={sessionId}");
        await timeline.Locator("#events tbody tr").First.WaitForAsync(new LocatorWaitForOptions { Timeout = 20_000 });
        var offsets = await timeline.Locator("#events tbody tr td:nth-child(2)").AllTextContentsAsync();

        // By t every event would sit ~600 s after the session's start; by corrected_t within seconds of it.
        Assert.NotEmpty(offsets);
        Assert.All(offsets, text => Assert.InRange(double.Parse(text.TrimStart('+').Replace(" s", ""), System.Globalization.CultureInfo.InvariantCulture), 0, 30));
    }

    private static string[] Ids(JsonElement body) => [.. body.GetProperty("events").EnumerateArray().Select(e => e.GetProperty("id").GetString()!)];
}
