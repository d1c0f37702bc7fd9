using System.Collections.Concurrent;
using Microsoft.Playwright;
using SessionTracking.TestSupport;

namespace SessionTracking.Tracker.Tests;

/// <summary>Typed text, password values and excluded subtrees never leave the browser.</summary>
[TestCategory("SlowBVT")]
[Collection(BrowserCollection.Name)]
public sealed class PrivacyTests(BrowserFixture fixture)
{
    private const string TypedText = "SECRET-TEXT-4711";
    private const string Password = "hunter2-PASSWORD";
    private const string Notes = "private notes 9a8b7c";
    private const string IgnoredTyping = "ignored-typing-55";

    [Fact]
    public async Task Typed_text_and_passwords_never_reach_the_server()
    {
        await using var context = await fixture.NewContextAsync();
        var sent = new ConcurrentQueue<string>();
        context.Request += (_, request) =>
        {
            if (request.Method == "POST" && request.PostData is { } body)
            {
                sent.Enqueue(body);
            }
        };
        var (page, sessionId) = await BrowserFixture.OpenTrackedPageAsync(context, new { flushInterval = 100, trackHover = true, hoverDelay = 100 });

        await page.ClickAsync("#name");
        await page.Keyboard.TypeAsync(TypedText);
        await page.Keyboard.PressAsync("Enter");
        await page.ClickAsync("#pw");
        await page.Keyboard.TypeAsync(Password);
        await page.Keyboard.PressAsync("Enter");
        await page.ClickAsync("#notes");
        await page.Keyboard.TypeAsync(Notes);
        // Select and copy what was typed: field contents are not page text.
        await page.ClickAsync("#name", new PageClickOptions { ClickCount = 3 });
        await page.Keyboard.PressAsync("Control+A");
        await page.Keyboard.PressAsync("Control+C");
        await page.WaitForTimeoutAsync(500);
        // The excluded subtree: no clicks, keys, hovers or selections from inside it.
        await page.ClickAsync("#secret-btn");
        await page.ClickAsync("#secret-input");
        await page.Keyboard.TypeAsync(IgnoredTyping);
        await page.ClickAsync("#secret-para", new PageClickOptions { ClickCount = 3 });
        await page.Keyboard.PressAsync("Control+C");
        await page.WaitForTimeoutAsync(500);
        Assert.True(await page.EvaluateAsync<bool>("() => window.tracker.end()"));

        var session = await fixture.GetSessionAsync(sessionId);
        var document = session.GetRawText();
        foreach (var secret in new[] { TypedText, Password, Notes, IgnoredTyping, "Ignored paragraph text", "secret-btn", "secret-input" })
        {
            Assert.DoesNotContain(secret, document, StringComparison.Ordinal);
            Assert.All(sent, body => Assert.DoesNotContain(secret, body, StringComparison.Ordinal));
        }

        // Single characters are not even leaked one key at a time: typing is recorded as "Character".
        foreach (var c in "4711")
        {
            Assert.DoesNotContain(session.Events("key"), e => CaptureTests.Str(e, "target") == c.ToString());
        }

        var keys = session.Events("key").Select(e => CaptureTests.Str(e, "target")).ToList();
        Assert.Contains("Character", keys);
        Assert.Contains("Enter", keys);                              // the Enter in the text field
        Assert.Equal(TypedText.Length + Notes.Length, keys.Count(k => k == "Character")); // nothing from the password field
        Assert.Contains("Control+A", keys);                          // shortcuts are named, even in fields
        Assert.Contains(session.Events("click"), e => CaptureTests.Str(e, "target_id") == "pw"); // clicks on it are fine
        Assert.Empty(session.Events("copy"));
        Assert.Empty(session.Events("selection"));
        Assert.True(sent.Count >= 2);
    }

    [Fact]
    public async Task Do_not_track_turns_the_tracker_off_when_configured_to()
    {
        await using var context = await fixture.NewContextAsync();
        var starts = 0;
        context.Request += (_, request) =>
        {
            if (request.Url.EndsWith("/session/start", StringComparison.Ordinal))
            {
                Interlocked.Increment(ref starts);
            }
        };
        var page = await context.NewPageAsync();
        await page.AddInitScriptAsync("Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', { get: () => true }); window.__trackerOptions = { respectDoNotTrack: true };");
        await page.GotoAsync("/__test/page.html");
        Assert.Equal("do_not_track", await page.EvaluateAsync<string>("() => window.trackerReady.then(t => t.disabled)"));
        Assert.Null(await page.EvaluateAsync<string?>("() => window.tracker.sessionId"));
        Assert.False(await page.EvaluateAsync<bool>("() => window.tracker.logEvent('feedback', { feedback: 'up' })"));
        Assert.Equal(0, starts);

        // Without the option the same browser is tracked (the default, as in the earlier system).
        var (_, sessionId) = await BrowserFixture.OpenTrackedPageAsync(context, new { respectDoNotTrack = false });
        Assert.Equal(1, starts);
        Assert.False(string.IsNullOrEmpty(sessionId));
    }
}
