using System.Diagnostics;
using Microsoft.Playwright;
using SessionTracking.TestSupport;

namespace SessionTracking.Tracker.Tests;

/// <summary>
/// The guide's page example (react-app/page.tsx: only the import paths changed) bundled with React from npm by
/// esbuild, mounted in StrictMode in a real page at the gateway's origin.
/// </summary>
[TestCategory("SlowBVT")]
[Collection(BrowserCollection.Name)]
public sealed class ReactHooksTests(BrowserFixture fixture)
{
    private const string Html = """
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8"><title>React hooks</title></head>
        <body><div id="root"></div><script type="module" src="/__react/app.js"></script></body></html>
        """;

    [Fact]
    public async Task The_guides_example_starts_one_session_tracks_and_logs_feedback()
    {
        var bundle = await BuildExampleAsync();
        await using var context = await fixture.NewContextAsync();
        await context.RouteAsync("**/__react/index.html", route => route.FulfillAsync(new RouteFulfillOptions { ContentType = "text/html; charset=utf-8", Body = Html }));
        await context.RouteAsync("**/__react/app.js", route => route.FulfillAsync(new RouteFulfillOptions { ContentType = "text/javascript", Path = bundle }));
        var starts = 0;
        context.Request += (_, request) =>
        {
            if (request.Url.EndsWith("/session/start", StringComparison.Ordinal))
            {
                Interlocked.Increment(ref starts);
            }
        };
        var errors = new List<string>();
        var page = await context.NewPageAsync();
        page.PageError += (_, error) => errors.Add(error);

        var started = page.WaitForResponseAsync(r => r.Url.EndsWith("/session/start", StringComparison.Ordinal));
        await page.GotoAsync("/__react/index.html");
        var response = await started;
        Assert.Equal(201, response.Status);
        var sessionId = (await response.JsonAsync())!.Value.GetProperty("session_id").GetString()!;

        await page.GetByText("LLM Chat Interface").WaitForAsync();
        await page.WaitForTimeoutAsync(300);
        await page.ClickAsync("text=👍");
        await page.ClickAsync("text=👎");
        await BrowserFixture.CloseTabAsync(page);

        var session = await fixture.WaitForSessionAsync(sessionId, s => s.HasEnded() && s.Events("feedback").Count >= 2);
        Assert.True(session.HasEnded(), session.Types());
        Assert.Equal(1, starts); // StrictMode mounts twice; the session is started once
        Assert.Empty(errors);
        Assert.Equal(["up", "down"], session.Events("feedback").Select(e => CaptureTests.Str(e, "feedback")));
        Assert.Equal(2, session.Events("click").Count(e => CaptureTests.Str(e, "target") == "BUTTON"));
        Assert.Single(session.Events("navigate"));
        Assert.Equal("gpt-4", session.GetProperty("model_group").GetString());
        Assert.Equal("experiment_v1", session.GetProperty("experiment_id").GetString());
        Assert.StartsWith("user_", session.GetProperty("user_id").GetString(), StringComparison.Ordinal);
        Assert.Equal("Chrome", session.GetProperty("environment").GetProperty("browser").GetString());
    }

    [Fact]
    public async Task The_declarations_type_check_the_guides_example_in_strict_mode()
    {
        // tsc --strict over page.tsx (the guide's example), main.tsx and script-tag.ts against wwwroot/**/*.d.ts.
        var (exitCode, output) = await RunNodeAsync(
            Path.Combine(RepoPaths.Root, "node_modules", "typescript", "bin", "tsc"),
            "-p", Path.Combine(ReactApp, "tsconfig.json"));
        Assert.True(exitCode == 0, $"tsc reported errors:\n{output}");
    }

    private static string ReactApp => Path.Combine(RepoPaths.Root, "tests", "Tracker.Tests", "react-app");

    /// <summary>Bundles react-app/ with the repository's node_modules (installed by ./test.sh with npm ci).</summary>
    private static async Task<string> BuildExampleAsync()
    {
        var output = RepoPaths.NewTempDirectory("react-example");
        var (exitCode, log) = await RunNodeAsync(Path.Combine(ReactApp, "build.mjs"), output);
        Assert.True(exitCode == 0, $"esbuild failed: {log}");
        return Path.Combine(output, "app.js");
    }

    private static async Task<(int ExitCode, string Output)> RunNodeAsync(params string[] args)
    {
        if (!Directory.Exists(Path.Combine(RepoPaths.Root, "node_modules", "react")))
        {
            throw new InvalidOperationException("node_modules is missing: run 'npm ci' at the repository root (./test.sh does).");
        }

        var info = new ProcessStartInfo("node") { WorkingDirectory = RepoPaths.Root, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        using var process = Process.Start(info)!;
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, stdout + await stderr);
    }
}
