using System.Text.RegularExpressions;
using Microsoft.Playwright;
using SessionTracking.TestSupport;

namespace SessionTracking.Tracker.Tests;

/// <summary>The demo chat at <c>/</c>: what a newcomer sees after the README's first command.</summary>
[TestCategory("SlowBVT")]
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
        var response = Assert.Single(session.Events("model_response"));
        Assert.False(response.GetProperty("data").GetProperty("stopped").GetBoolean());
        Assert.True(response.GetProperty("data").GetProperty("ttft_ms").GetInt64() >= 50); // one 60 ms word delay
        Assert.Contains("(offline model) You asked", CaptureTests.Str(response, "text"));
        Assert.Equal("up", CaptureTests.Str(Assert.Single(session.Events("feedback")), "feedback"));
        Assert.Contains(session.Events("click"), e => CaptureTests.Str(e, "target_id") == "send");
        Assert.Empty(errors);
        Assert.Matches(SessionIdPattern(), sessionId);
    }

    [Fact]
    public async Task Stop_aborts_the_streaming_answer_and_the_session_records_it_as_stopped()
    {
        await using var context = await fixture.NewContextAsync();
        var page = await context.NewPageAsync();
        await page.GotoAsync("/");
        var sessionId = await page.EvaluateAsync<string>("() => new Promise(r => { const w = () => window.tracker ? r(window.tracker.sessionId) : setTimeout(w, 50); w(); })");

        await page.FillAsync("#prompt", "Tell me a long story about streaming answers");
        await page.ClickAsync("#send");
        var answer = page.Locator(".message.model").Last;
        await Assertions.Expect(answer).ToContainTextAsync("(offline model)"); // the first words have streamed in
        await page.ClickAsync("#stop");
        await Assertions.Expect(answer.Locator(".meta").First).ToContainTextAsync("stopped");
        await Assertions.Expect(page.Locator("#send")).ToBeVisibleAsync();
        var shown = (await answer.InnerTextAsync()).Split("\n")[0];

        var data = default(System.Text.Json.JsonElement);
        for (var attempt = 0; attempt < 50 && data.ValueKind == System.Text.Json.JsonValueKind.Undefined; attempt++)
        {
            var responses = (await fixture.GetSessionAsync(sessionId)).Events("model_response").ToList();
            if (responses.Count == 1)
            {
                data = responses[0].GetProperty("data");
            }
            else
            {
                await Task.Delay(100);
            }
        }

        Assert.True(data.GetProperty("stopped").GetBoolean());
        var recorded = data.GetProperty("text").GetString()!;
        Assert.StartsWith(shown.TrimEnd(), recorded);
        Assert.DoesNotContain("real answers.", recorded); // the full answer's last words never came
    }

    [GeneratedRegex("^[A-Za-z0-9_-]{24}$")]
    private static partial Regex SessionIdPattern();
}
