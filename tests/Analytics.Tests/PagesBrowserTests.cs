using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.Playwright;
using SessionTracking.TestSupport;

namespace SessionTracking.Analytics.Tests;

/// <summary>A gateway process with a 1:1 split for <c>browser-exp</c>, and Chromium.</summary>
public sealed class PagesGateway : BrowserGateway
{
    public PagesGateway()
    {
        Environment = new Dictionary<string, string?>
        {
            ["Analytics__Experiments__browser-exp__Split__fast-model"] = "1",
            ["Analytics__Experiments__browser-exp__Split__slow-model"] = "1",
        };
    }
}

/// <summary>
/// The real gateway process and headless Chromium: the analytics page draws the groups the API recorded, links to the
/// timeline, the timeline draws the session, and the Orleans dashboard answers.
/// </summary>
[TestCategory("SlowBVT")]
public sealed class PagesBrowserTests(PagesGateway gateway) : IClassFixture<PagesGateway>
{
    private readonly Uri _baseAddress = gateway.BaseAddress;
    private readonly HttpClient _http = gateway.Http;
    private readonly IBrowser _browser = gateway.Browser;

    [Fact]
    public async Task Analytics_page_draws_groups_and_links_to_a_timeline_that_draws_the_session()
    {
        var fast = await RecordSessionAsync("fast-model", latencies: [120, 180], feedback: "up");
        await RecordSessionAsync("slow-model", latencies: [2400], feedback: "down");

        var page = await _browser.NewPageAsync(new BrowserNewPageOptions { BaseURL = _baseAddress.ToString(), ViewportSize = new ViewportSize { Width = 1300, Height = 900 } });
        var errors = new List<string>();
        page.PageError += (_, error) => errors.Add(error);
        await page.GotoAsync("/analytics.html");

        var experiment = page.Locator("section.experiment[data-experiment='browser-exp']");
        await experiment.WaitForAsync(new LocatorWaitForOptions { Timeout = 20_000 });
        Assert.Equal("1", await experiment.Locator("tr[data-group='fast-model'] td.sessions").InnerTextAsync());
        // Mean / p50 / p95 of 120 and 180 ms: 150 / 150 / 177.
        Assert.Equal("150 / 150 / 177", await experiment.Locator("tr[data-group='fast-model'] td.latency").InnerTextAsync());
        Assert.Equal("2,400 / 2,400 / 2,400", await experiment.Locator("tr[data-group='slow-model'] td.latency").InnerTextAsync());
        Assert.True(await experiment.Locator("svg rect.bar").CountAsync() >= 6, "the charts draw a bar per group");
        Assert.Contains("Split as intended", await experiment.Locator("p.srm").InnerTextAsync());
        Assert.Contains("slow-model − fast-model", await experiment.Locator("table.comparisons").InnerTextAsync());

        // The recent-sessions table links to the timeline of each session.
        await page.Locator($"#sessions a[href='/timeline.html?session_id={fast}']").ClickAsync();
        await page.WaitForURLAsync($"**/timeline.html?session_id={fast}");
        await page.Locator("#timeline").WaitForAsync(new LocatorWaitForOptions { Timeout = 20_000 });
        Assert.Equal("7", await page.Locator("#event-count").InnerTextAsync()); // 2 prompts, 2 responses, feedback, copy, scroll
        Assert.Equal(2, await page.Locator("#timeline rect.response").CountAsync());
        Assert.Equal(1, await page.Locator("#timeline text.feedback").CountAsync());
        Assert.Contains("fast-model", await page.Locator("#summary").InnerTextAsync());
        Assert.Equal(7, await page.Locator("#events tbody tr").CountAsync());
        Assert.Empty(errors);
    }

    [Fact]
    public async Task Dashboard_answers_in_the_browser()
    {
        using var response = await _http.GetAsync("/dashboard/DashboardCounters");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("\"hosts\"", await response.Content.ReadAsStringAsync());

        var page = await _browser.NewPageAsync(new BrowserNewPageOptions { BaseURL = _baseAddress.ToString() });
        var answer = await page.GotoAsync("/dashboard/");
        Assert.Equal(200, answer!.Status);
        Assert.Equal("Orleans Dashboard", await page.TitleAsync());
    }

    private async Task<string> RecordSessionAsync(string group, int[] latencies, string feedback)
    {
        var start = await PostAsync("/session/start", $$"""{"user_id":"browser-{{group}}","model_group":"{{group}}","experiment_id":"browser-exp"}""");
        var sessionId = start.GetProperty("session_id").GetString()!;
        var events = new List<string>();
        foreach (var latency in latencies)
        {
            events.Add("""{"type":"prompt","data":{"text":"q"}}""");
            events.Add($$$"""{"type":"model_response","data":{"text":"a","latency_ms":{{{latency}}}}}""");
        }

        events.Add($$$"""{"type":"feedback","data":{"feedback":"{{{feedback}}}"}}""");
        events.Add("""{"type":"copy","data":{"selected_text":"a"}}""");
        events.Add("""{"type":"scroll","data":{"y":10}}""");
        await PostAsync("/session/event", $$"""{"session_id":"{{sessionId}}","events":[{{string.Join(',', events)}}],"end":true}""");
        return sessionId;
    }

    private async Task<JsonElement> PostAsync(string path, string json)
    {
        using var response = await _http.PostAsync(path, new StringContent(json, Encoding.UTF8, "application/json"));
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"{path}: {(int)response.StatusCode} {text}");
        return JsonDocument.Parse(text).RootElement.Clone();
    }
}
