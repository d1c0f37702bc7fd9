using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;
using Microsoft.Playwright;
using SessionTracking.TestSupport;

namespace SessionTracking.Tracker.Tests;

/// <summary>Exactly-once delivery: tab closes, server errors with Retry-After, offline periods, the queue cap.</summary>
[TestCategory("SlowBVT")]
[Collection(BrowserCollection.Name)]
public sealed class DeliveryTests(BrowserFixture fixture)
{
    private const int Closes = 24;

    [Fact]
    public async Task Closing_the_tab_delivers_every_queued_event_and_ends_the_session_every_time()
    {
        // Even closes: nothing is flushed before (long interval, big batches), every event rides the close beacon
        // together with the end; a separate end would overtake the events in some closes and they would get 409.
        // Odd closes: small batches, so a fetch is in flight when the tab closes and may land after the end: its
        // events are in the final beacon too, so they are stored once and the late request only finds duplicates.
        var sessions = new List<(string SessionId, int Events)>();
        var contexts = new List<IBrowserContext>();
        var closesWithRequestsUnderway = 0;
        for (var i = 0; i < Closes; i++)
        {
            // A profile per close: no later page of the same profile could deliver a lost beacon's stored copy.
            var context = await fixture.NewContextAsync();
            contexts.Add(context);
            object options = i % 2 == 0 ? new { flushInterval = 60000, batchSize = 1000 } : new { flushInterval = 10, batchSize = 4 };
            var (page, sessionId) = await BrowserFixture.OpenTrackedPageAsync(context, options);
            var count = 5 + (i % 4) * 10;
            await page.ClickAsync("#btn");
            await page.EvaluateAsync("n => { for (let i = 0; i < n; i++) window.tracker.logEvent('queued', { i, text: 'x'.repeat(50) }); }", count);
            var pending = await page.EvaluateAsync<int>("() => window.tracker.pending()");
            if (i % 2 == 0)
            {
                Assert.Equal(count + 2, pending); // + navigate + click
            }
            else if (pending > 0)
            {
                closesWithRequestsUnderway++;
            }

            await BrowserFixture.CloseTabAsync(page);
            sessions.Add((sessionId, count));
        }

        foreach (var (sessionId, count) in sessions)
        {
            var session = await fixture.WaitForSessionAsync(sessionId, s => s.HasEnded() && s.Events("queued").Count >= count);
            Assert.True(session.HasEnded(), $"session {sessionId} did not end; events: {session.Types()}");
            var queued = session.Events("queued").Select(e => e.GetProperty("data").GetProperty("i").GetInt32()).ToList();
            Assert.Equal(Enumerable.Range(0, count), queued); // all, once, in order
            Assert.Single(session.Events("click"));
            Assert.Single(session.Events("navigate"));
        }

        Assert.True(closesWithRequestsUnderway >= Closes / 4, $"only {closesWithRequestsUnderway} closes had requests underway");
        foreach (var context in contexts)
        {
            await context.CloseAsync();
        }
    }

    [Fact]
    public async Task Two_503_answers_then_success_deliver_everything_exactly_once()
    {
        await using var context = await fixture.NewContextAsync();
        var attempts = new ConcurrentQueue<(DateTime At, int Status)>();
        var failures = 0;
        await context.RouteAsync("**/session/event", async route =>
        {
            var n = Interlocked.Increment(ref failures);
            if (n == 1)
            {
                // The gateway never sees this one.
                attempts.Enqueue((DateTime.UtcNow, 503));
                await route.FulfillAsync(new RouteFulfillOptions { Status = 503, ContentType = "application/problem+json", Headers = new Dictionary<string, string> { ["Retry-After"] = "1" }, Body = """{"status":503,"title":"Unavailable"}""" });
            }
            else if (n == 2)
            {
                // The gateway stores this batch, but the answer is lost: the resend must not duplicate anything.
                var stored = await route.FetchAsync();
                Assert.Equal(200, stored.Status);
                attempts.Enqueue((DateTime.UtcNow, 503));
                await route.FulfillAsync(new RouteFulfillOptions { Status = 503, ContentType = "application/problem+json", Headers = new Dictionary<string, string> { ["Retry-After"] = "1" }, Body = """{"status":503,"title":"Unavailable"}""" });
            }
            else
            {
                attempts.Enqueue((DateTime.UtcNow, 200));
                await route.ContinueAsync();
            }
        });

        var (page, sessionId) = await BrowserFixture.OpenTrackedPageAsync(context, new { flushInterval = 100, batchSize = 50, retryBaseDelay = 100 });
        await page.EvaluateAsync("() => { for (let i = 0; i < 40; i++) window.tracker.logEvent('retried', { i }); }");
        var clock = Stopwatch.StartNew();
        Assert.True(await page.EvaluateAsync<bool>("() => window.tracker.flush()"));
        await page.EvaluateAsync("() => { for (let i = 40; i < 60; i++) window.tracker.logEvent('retried', { i }); }");
        Assert.True(await page.EvaluateAsync<bool>("() => window.tracker.end()"));

        var log = attempts.ToArray();
        Assert.True(log.Length >= 3, $"{log.Length} attempts");
        Assert.Equal([503, 503], log.Take(2).Select(a => a.Status));
        // Retry-After: 1 is honoured although the tracker's own backoff would retry after 50–200 ms.
        Assert.True(log[1].At - log[0].At >= TimeSpan.FromSeconds(0.95), $"retry after {(log[1].At - log[0].At).TotalMilliseconds} ms");
        Assert.True(log[2].At - log[1].At >= TimeSpan.FromSeconds(0.95), $"retry after {(log[2].At - log[1].At).TotalMilliseconds} ms");

        var session = await fixture.GetSessionAsync(sessionId);
        Assert.True(session.HasEnded());
        Assert.Equal(Enumerable.Range(0, 60), session.Events("retried").Select(e => e.GetProperty("data").GetProperty("i").GetInt32()));
        Assert.Single(session.Events("navigate"));
        var stats = await page.EvaluateAsync<JsonElement>("() => window.tracker.stats");
        Assert.True(stats.GetProperty("retries").GetInt32() >= 2);
        Assert.True(stats.GetProperty("duplicates").GetInt32() >= 1, stats.ToString()); // the lost answer's batch came back as duplicates
        Assert.Equal(0, stats.GetProperty("dropped").GetInt32());
    }

    [Fact]
    public async Task Offline_events_are_queued_capped_and_delivered_when_back_online()
    {
        await using var context = await fixture.NewContextAsync();
        var (page, sessionId) = await BrowserFixture.OpenTrackedPageAsync(context, new { flushInterval = 100, maxQueueSize = 20, retryBaseDelay = 100 });
        Assert.True(await page.EvaluateAsync<bool>("() => window.tracker.flush()"));

        await context.SetOfflineAsync(true);
        await page.EvaluateAsync("() => { for (let i = 0; i < 50; i++) window.tracker.logEvent('offline', { i }); }");
        await page.WaitForTimeoutAsync(500); // batches are due but the browser is offline

        var stored = await page.EvaluateAsync<JsonElement>("id => JSON.parse(localStorage.getItem('sessiontracker:' + id))", sessionId);
        Assert.Equal(20, stored.GetProperty("events").GetArrayLength()); // the cap holds in storage
        Assert.Equal(30, stored.GetProperty("dropped").GetInt32());
        Assert.Empty((await fixture.GetSessionAsync(sessionId)).Events("offline"));

        await context.SetOfflineAsync(false);
        var session = await fixture.WaitForSessionAsync(sessionId, s => s.Events("offline").Count >= 20);
        Assert.Equal(Enumerable.Range(30, 20), session.Events("offline").Select(e => e.GetProperty("data").GetProperty("i").GetInt32()));
        var report = Assert.Single(session.Events("tracker.dropped"));
        Assert.Equal(30, report.GetProperty("data").GetProperty("dropped").GetInt32());
        Assert.Equal("queue_full", report.GetProperty("data").GetProperty("reason").GetString());
        Assert.True(await page.EvaluateAsync<bool>("() => window.tracker.flush()"));
        Assert.Null(await page.EvaluateAsync<string?>("id => localStorage.getItem('sessiontracker:' + id)", sessionId));
    }

    [Fact]
    public async Task A_queue_left_offline_by_a_closed_page_is_delivered_by_the_next_page()
    {
        await using var context = await fixture.NewContextAsync();
        var (page, sessionId) = await BrowserFixture.OpenTrackedPageAsync(context, new { flushInterval = 60000, batchSize = 1000 });
        await context.SetOfflineAsync(true);
        await page.EvaluateAsync("() => { for (let i = 0; i < 10; i++) window.tracker.logEvent('stranded', { i }); }");
        await BrowserFixture.CloseTabAsync(page); // the close beacons cannot leave
        await context.SetOfflineAsync(false);

        await BrowserFixture.RouteTestPagesAsync(context);
        var (next, _) = await BrowserFixture.OpenTrackedPageAsync(context, new { });
        var session = await fixture.WaitForSessionAsync(sessionId, s => s.HasEnded());
        Assert.True(session.HasEnded());
        Assert.Equal(Enumerable.Range(0, 10), session.Events("stranded").Select(e => e.GetProperty("data").GetProperty("i").GetInt32()));
        await next.WaitForFunctionAsync("id => localStorage.getItem('sessiontracker:' + id) === null", sessionId);
    }
}
