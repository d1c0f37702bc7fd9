using System.Text.RegularExpressions;
using Microsoft.Playwright;

namespace SessionTracking.Tracker.Tests;

/// <summary>The demo chat at <c>/</c>: what a newcomer sees after the README's first command.</summary>
[Collection(BrowserCollection.Name)]
public sealed partial class DemoPageTests(BrowserFixture fixture)
{
    [Fact]
    public async Task The_demo_chat_queries_records_feedback_and_shows_the_live_session()
    {
        await using var context = await fixture.NewContextAsync();
        var page = await context.NewPageAsync();
        var errors = new List<string>();
        page.PageError += (_, error) => errors.Add(error);
        await page.GotoAsync("/");
        var sessionId = await page.EvaluateAsync<string>("() => new Promise(r => { const w = () => window.tracker ? r(window.tracker.sessionId) : setTimeout(w, 50); w(); })");

        await page.FillAsync("#prompt", "What is machine learning?");
        await page.ClickAsync("#send");
        await page.Locator(".message.model .meta button").First.WaitForAsync();
        await page.ClickAsync(".message.model .meta button:has-text('👍')");

        // The side panel shows the live document: the exchange recorded by /query and the feedback event.
        var events = page.Locator("#events");
        await Assertions.Expect(events).ToContainTextAsync("feedback", new() { Timeout = 10000 });
        await Assertions.Expect(events).ToContainTextAsync("model_response");
        await Assertions.Expect(events).ToContainTextAsync("prompt");
        await Assertions.Expect(page.Locator("#timeline-link")).ToHaveAttributeAsync("href", $"/timeline.html?session_id={sessionId}");
        await Assertions.Expect(page.Locator("a[href='/analytics.html']")).ToBeVisibleAsync();

        await page.ClickAsync("#end");
        await Assertions.Expect(page.Locator("#summary")).Not.ToContainTextAsync("(open)", new() { Timeout = 10000 });

        var session = await fixture.GetSessionAsync(sessionId);
        Assert.True(session.HasEnded());
        Assert.Equal("What is machine learning?", CaptureTests.Str(Assert.Single(session.Events("prompt")), "text"));
        Assert.Single(session.Events("model_response"));
        Assert.Equal("up", CaptureTests.Str(Assert.Single(session.Events("feedback")), "feedback"));
        Assert.Contains(session.Events("click"), e => CaptureTests.Str(e, "target_id") == "send");
        Assert.Empty(errors);
        Assert.Matches(SessionIdPattern(), sessionId);
    }

    [GeneratedRegex("^[A-Za-z0-9_-]{24}$")]
    private static partial Regex SessionIdPattern();
}
