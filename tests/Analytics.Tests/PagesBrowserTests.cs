using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.Playwright;
using SessionTracking.TestSupport;

namespace SessionTracking.Analytics.Tests;

/// <summary>
/// A gateway process and Chromium: 1:1 splits for <c>browser-exp</c> (per user) and <c>decide-exp</c> (per session), each
/// with a guardrail on errors per session (10 % relative), <c>decide-exp</c> also one on the stopped-answer rate.
/// </summary>
public sealed class PagesGateway : BrowserGateway
{
    public PagesGateway()
    {
        Environment = new Dictionary<string, string?>
        {
            ["Analytics__Experiments__browser-exp__Split__fast-model"] = "1",
            ["Analytics__Experiments__browser-exp__Split__slow-model"] = "1",
            ["Analytics__Experiments__browser-exp__Guardrails__errors__Metric"] = "errors_per_session",
            ["Analytics__Experiments__decide-exp__Split__fast-model"] = "1",
            ["Analytics__Experiments__decide-exp__Split__slow-model"] = "1",
            ["Analytics__Experiments__decide-exp__Unit"] = "Session",
            ["Analytics__Experiments__decide-exp__Guardrails__errors__Metric"] = "errors_per_session",
            ["Analytics__Experiments__decide-exp__Guardrails__errors__Threshold"] = "0.1",
            ["Analytics__Experiments__decide-exp__Guardrails__errors__HigherIsWorse"] = "true",
            ["Analytics__Experiments__decide-exp__Guardrails__stops__Metric"] = "stopped_rate",
        };
    }
}

/// <summary>
/// The real gateway process and headless Chromium: the analytics page shows the figures the API reports, with their
/// unit, the readout, sequential and adjusted p-values, plans a sample size, links to the timeline, the timeline draws the
/// session and its figures, and the Orleans dashboard answers.
/// </summary>
[TestCategory("SlowBVT")]
public sealed class PagesBrowserTests(PagesGateway gateway) : IClassFixture<PagesGateway>
{
    private readonly Uri _baseAddress = gateway.BaseAddress;
    private readonly HttpClient _http = gateway.Http;
    private readonly IBrowser _browser = gateway.Browser;

    [Fact]
    public async Task Analytics_page_shows_the_reports_figures_at_its_unit_and_links_to_a_timeline_that_draws_the_session()
    {
        // fast-model: user a with two sessions and user b with one; slow-model: users c and d. The experiment has a split,
        // so its unit is the user: 2 units per group, 3 and 2 sessions.
        var fast = await RecordSessionAsync("fast-model", "browser-a",
            Prompt, Response(120, tokens: 40), Prompt, Response(180, tokens: 60, stopped: true), Feedback("up"), Copy, Scroll, Error);
        await RecordSessionAsync("fast-model", "browser-a", Prompt, Response(150, tokens: 30), Feedback("meh"));
        await RecordSessionAsync("fast-model", "browser-b", Prompt, Response(200, tokens: 50), Feedback("down"));
        await RecordSessionAsync("slow-model", "browser-c", Prompt, Response(2400, tokens: 80), OutOfBounds, Feedback("down"), Error);
        await RecordSessionAsync("slow-model", "browser-d", Prompt, Response(1800, tokens: 90), Prompt, Response(2000, tokens: 70, stopped: true), Feedback("up"), Error);
        var byUser = await ReportAsync("");
        Assert.Equal("user", byUser.GetProperty("unit").GetString());

        var page = await _browser.NewPageAsync(new BrowserNewPageOptions { BaseURL = _baseAddress.ToString(), ViewportSize = new ViewportSize { Width = 1300, Height = 900 } });
        var errors = new List<string>();
        page.PageError += (_, error) => errors.Add(error);
        await page.GotoAsync("/analytics.html");

        var experiment = page.Locator("section.experiment[data-experiment='browser-exp'][data-unit='user']");
        await experiment.WaitForAsync(new LocatorWaitForOptions { Timeout = 20_000 });
        await AssertShowsReportAsync(experiment, byUser);
        Assert.Equal("2", await experiment.Locator("tr[data-group='slow-model'] td.excluded-values").InnerTextAsync());
        Assert.Contains("the experiment's unit", await experiment.Locator("p.unit-line").InnerTextAsync());
        Assert.Equal("users", await experiment.Locator("table.groups th").Nth(1).InnerTextAsync());
        Assert.True(await experiment.Locator("svg rect.bar").CountAsync() >= 10, "five charts draw a bar per group");
        var srm = await experiment.Locator("p.srm").InnerTextAsync();
        Assert.Contains("Split as intended", srm);
        Assert.Contains("observed users fast-model 2, slow-model 2", srm);
        var footnote = await experiment.Locator("p.percentiles").InnerTextAsync();
        Assert.Contains("p50 and p95 are DDSketch estimates within 1 % relative error", footnote);
        Assert.Contains("delta method at the user level", footnote);

        // The unit selector asks for the report per session: units are then the sessions.
        await page.SelectOptionAsync("#unit", "session");
        experiment = page.Locator("section.experiment[data-experiment='browser-exp'][data-unit='session']");
        await experiment.WaitForAsync(new LocatorWaitForOptions { Timeout = 20_000 });
        var bySession = await ReportAsync("&unit=session");
        await AssertShowsReportAsync(experiment, bySession);
        Assert.Equal("3", await experiment.Locator("tr[data-group='fast-model'] td.units").InnerTextAsync());
        Assert.Equal("sessions", await experiment.Locator("table.groups th").Nth(1).InnerTextAsync());
        Assert.Contains("chosen above", await experiment.Locator("p.unit-line").InnerTextAsync());
        Assert.Contains("observed sessions fast-model 3, slow-model 2", await experiment.Locator("p.srm").InnerTextAsync());

        // A baseline that names no group: the server answers 400 problem+json and the page says why instead of a report.
        using (var refused = await _http.GetAsync("/analytics?experiment_id=browser-exp&baseline=no-such-group"))
        {
            Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
            Assert.Equal("application/problem+json", refused.Content.Headers.ContentType?.MediaType);
            var problem = JsonDocument.Parse(await refused.Content.ReadAsStringAsync()).RootElement;
            Assert.Contains("no-such-group", problem.GetProperty("detail").GetString());
            await page.FillAsync("#baseline", "no-such-group");
            await page.ClickAsync("#filters button[type=submit]");
            var card = page.Locator("#experiments section.problem[role=alert]");
            await card.WaitForAsync(new LocatorWaitForOptions { Timeout = 20_000 });
            var text = await card.InnerTextAsync();
            Assert.Contains("The server refused this report", text);
            Assert.Contains($"400 Bad Request — {problem.GetProperty("detail").GetString()}", text);
            Assert.Equal(0, await page.Locator("section.experiment").CountAsync());
            Assert.Equal("alarm", await page.Locator("#status").GetAttributeAsync("class"));
        }

        // The baseline chosen by name: the other group is compared with it.
        await page.FillAsync("#baseline", "slow-model");
        await page.ClickAsync("#filters button[type=submit]");
        experiment = page.Locator("section.experiment[data-experiment='browser-exp']");
        await experiment.WaitForAsync(new LocatorWaitForOptions { Timeout = 20_000 });
        Assert.Contains("Against slow-model", await experiment.Locator("h3.comparisons-title").InnerTextAsync());
        await AssertShowsReportAsync(experiment, await ReportAsync("&unit=session&baseline=slow-model"));

        // The recent-sessions table links to the timeline of each session; the timeline shows the session's figures.
        await page.Locator($"#sessions a[href='/timeline.html?session_id={fast}']").ClickAsync();
        await page.WaitForURLAsync($"**/timeline.html?session_id={fast}");
        await page.Locator("#timeline").WaitForAsync(new LocatorWaitForOptions { Timeout = 20_000 });
        Assert.Equal("8", await page.Locator("#event-count").InnerTextAsync()); // 2 prompts, 2 responses, feedback, copy, scroll, error
        Assert.Equal(2, await page.Locator("#timeline rect.response").CountAsync());
        Assert.Equal(1, await page.Locator("#timeline text.feedback").CountAsync());
        Assert.Contains("fast-model", await page.Locator("#summary").InnerTextAsync());
        Assert.Equal(8, await page.Locator("#events tbody tr").CountAsync());
        Assert.Contains("per session", await page.Locator("#figures-card h3").InnerTextAsync());
        async Task<string> Figure(string key) => await page.Locator($"#figures tr[data-figure='{key}'] td.value").InnerTextAsync();
        Assert.Equal("2", await Figure("prompts"));
        Assert.Equal("2", await Figure("responses"));
        Assert.Equal("150 ms mean · p50 150 ms · p95 177 ms · n 2", await Figure("latency")); // 120 and 180: p95 = 120 + 0.95 · 60
        Assert.Equal("50.0", await Figure("tokens-per-response"));
        Assert.Equal("1", await Figure("errors"));
        Assert.Equal("1 of 2 (50.0 %)", await Figure("stopped"));
        Assert.Equal("1 / 0 / 0 / 0 (1)", await Figure("feedback"));
        Assert.Equal("1 / 0", await Figure("implicit"));
        Assert.Equal("0.50", await Figure("copies-per-response"));
        Assert.Equal("0", await Figure("excluded-values"));
        Assert.Empty(errors);
    }

    [Fact]
    public async Task Analytics_page_shows_the_readout_sequential_and_adjusted_p_values_and_plans_a_sample_size()
    {
        // decide-exp, per session (its groups are named as browser-exp's: the other test's "all experiments" view asks for
        // baseline slow-model): an error in 4 of 32 baseline sessions and in 28 of 32 treatment sessions, far beyond the
        // 10 % guardrail and significant from the start (sequential p ≈ 0.004; with 24 per group it is ≈ 0.045, too near α
        // for a test); no stopped answers (that guardrail has no data to compare).
        var sessions = Enumerable.Range(0, 32).SelectMany(i => new[]
        {
            RecordSessionAsync("fast-model", $"decide-f{i}", "decide-exp", i < 4 ? [Prompt, Response(300, tokens: 20), Error] : [Prompt, Response(300, tokens: 20)]),
            RecordSessionAsync("slow-model", $"decide-s{i}", "decide-exp", i < 28 ? [Prompt, Response(900, tokens: 20), Error] : [Prompt, Response(900, tokens: 20)]),
        });
        await Task.WhenAll(sessions);
        var report = await ReportAsync("", "decide-exp");
        Assert.Equal("session", report.GetProperty("unit").GetString());
        var readout = report.GetProperty("comparisons")[0].GetProperty("readout");
        Assert.Equal("guardrail_breached", readout.GetProperty("decision").GetString());
        Assert.Equal(new[] { "breached", "no_data" }, readout.GetProperty("guardrails").EnumerateArray().Select(g => g.GetProperty("status").GetString()).ToArray());

        var page = await _browser.NewPageAsync(new BrowserNewPageOptions { BaseURL = _baseAddress.ToString(), ViewportSize = new ViewportSize { Width = 1300, Height = 900 } });
        var errors = new List<string>();
        page.PageError += (_, error) => errors.Add(error);
        await page.GotoAsync("/analytics.html");
        await page.Locator("#experiment option[value='decide-exp']").WaitForAsync(new LocatorWaitForOptions { State = WaitForSelectorState.Attached, Timeout = 20_000 });
        await page.SelectOptionAsync("#experiment", "decide-exp");
        var experiment = page.Locator("section.experiment[data-experiment='decide-exp']");
        await experiment.WaitForAsync(new LocatorWaitForOptions { Timeout = 20_000 });
        await page.Locator("section.experiment").Nth(1).WaitForAsync(new LocatorWaitForOptions { State = WaitForSelectorState.Detached, Timeout = 20_000 });
        await AssertShowsReportAsync(experiment, report);
        Assert.Equal("Guardrail breached", await experiment.Locator("div.readout[data-treatment='slow-model'] .decision").InnerTextAsync());
        Assert.Contains("guardrail errors: errors_per_session", await experiment.Locator("div.readout ul.reasons").InnerTextAsync());

        // The planner: the experiment is prefilled; 10 % baseline, +5 pp, 80 % power, α 0.05 → 686 sessions per group
        // (two proportions without continuity correction: (1.960·√(2·0.125·0.875) + 0.842·√(0.1·0.9 + 0.15·0.85))² / 0.05²).
        Assert.Equal("decide-exp", await page.InputValueAsync("#plan-experiment"));
        Assert.True(await page.Locator("#plan-baseline-sd").IsDisabledAsync(), "a rate is planned from a baseline rate");
        await page.FillAsync("#plan-mde", "0.05");
        await page.FillAsync("#plan-baseline-rate", "0.10");
        await page.ClickAsync("#plan-form button[type=submit]");
        var plan = await GetJsonAsync("/analytics/plan?metric=up_rate&mde=0.05&power=0.8&baseline_rate=0.10&experiment_id=decide-exp");
        Assert.Equal(686, plan.GetProperty("units_per_group").GetInt64());
        var shown = page.Locator("#plan-result .plan[data-metric='up_rate']");
        await shown.WaitForAsync(new LocatorWaitForOptions { Timeout = 20_000 });
        Assert.Equal("686", await shown.Locator(".units-per-group").InnerTextAsync());
        Assert.Contains("sessions per group", await shown.InnerTextAsync());
        // Within the experiment's first hour its traffic counts over one hour (32 sessions per group → 768 a day), so the
        // two requests agree on the days.
        Assert.Equal(PageFormat.Number(plan.GetProperty("days"), 1) + " days", await shown.Locator(".days").InnerTextAsync());
        Assert.Equal(PageFormat.Number(plan.GetProperty("units_per_day_per_group"), 1), await shown.Locator(".units-per-day").InnerTextAsync());
        Assert.Equal(plan.GetProperty("method").GetString(), await shown.Locator(".method").InnerTextAsync());

        // A baseline rate the change pushes past 1: the server answers 400 problem+json and the planner shows its detail.
        using (var refused = await _http.GetAsync("/analytics/plan?metric=up_rate&mde=0.05&power=0.8&baseline_rate=0.97&experiment_id=decide-exp"))
        {
            Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
            Assert.Equal("application/problem+json", refused.Content.Headers.ContentType?.MediaType);
            var detail = JsonDocument.Parse(await refused.Content.ReadAsStringAsync()).RootElement.GetProperty("detail").GetString();
            Assert.Contains("baseline_rate", detail);
            await page.FillAsync("#plan-baseline-rate", "0.97");
            await page.ClickAsync("#plan-form button[type=submit]");
            var card = page.Locator("#plan-result section.problem[role=alert]");
            await card.WaitForAsync(new LocatorWaitForOptions { Timeout = 20_000 });
            var text = await card.InnerTextAsync();
            Assert.Contains("The server refused this plan", text);
            Assert.Contains($"400 Bad Request — {detail}", text);
        }

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

    private const string Prompt = """{"type":"prompt","data":{"text":"q"}}""";

    /// <summary>Two numbers beyond their bounds: stored, in no figure, counted as excluded values.</summary>
    private const string OutOfBounds = """{"type":"model_response","data":{"text":"a","latency_ms":1e308,"tokens":-1}}""";
    private const string Copy = """{"type":"copy","data":{"selected_text":"a"}}""";
    private const string Scroll = """{"type":"scroll","data":{"y":10}}""";
    private const string Error = """{"type":"error","data":{"message":"upstream timeout"}}""";

    private static string Response(int latency, int tokens, bool stopped = false) =>
        $$$"""{"type":"model_response","data":{"text":"a","latency_ms":{{{latency}}},"tokens":{{{tokens}}},"stopped":{{{(stopped ? "true" : "false")}}}}}""";

    private static string Feedback(string value) => $$$"""{"type":"feedback","data":{"feedback":"{{{value}}}"}}""";

    private Task<string> RecordSessionAsync(string group, string user, params string[] events) => RecordSessionAsync(group, user, "browser-exp", events);

    private async Task<string> RecordSessionAsync(string group, string user, string experimentId, string[] events)
    {
        var start = await PostAsync("/session/start", $$"""{"user_id":"{{user}}","model_group":"{{group}}","experiment_id":"{{experimentId}}"}""");
        var sessionId = start.GetProperty("session_id").GetString()!;
        await PostAsync("/session/event", $$"""{"session_id":"{{sessionId}}","events":[{{string.Join(',', events)}}],"end":true}""");
        return sessionId;
    }

    /// <summary>The experiment's report as the API answers it (the page must show these very figures).</summary>
    private async Task<JsonElement> ReportAsync(string parameters, string experimentId = "browser-exp")
    {
        var report = (await GetJsonAsync($"/analytics?experiment_id={experimentId}" + parameters)).GetProperty("experiments").EnumerateArray().Single();
        Assert.Equal(new[] { "fast-model", "slow-model" }, report.GetProperty("groups").EnumerateArray().Select(g => g.GetProperty("model_group").GetString()).ToArray());
        return report;
    }

    /// <summary>Every figure of <paramref name="report"/> appears in the experiment's card as the page formats it, with its unit.</summary>
    private static async Task AssertShowsReportAsync(ILocator experiment, JsonElement report)
    {
        var unit = report.GetProperty("unit").GetString();
        Assert.Equal($"per {unit}", await experiment.Locator("p.unit-line .unit").InnerTextAsync());
        var badges = await experiment.Locator("h3 .unit").AllInnerTextsAsync();
        Assert.Equal(4, badges.Count); // the three tables and the comparisons
        Assert.All(badges, badge => Assert.Equal($"per {unit}", badge));
        Assert.Equal(report.GetProperty("baseline").GetString(), await experiment.Locator("b.baseline").InnerTextAsync());
        var alpha = report.GetProperty("alpha").GetDouble();
        Assert.Equal(
            report.GetProperty("start").GetDateTimeOffset().UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", System.Globalization.CultureInfo.InvariantCulture) + " UTC",
            await experiment.Locator("p.origin b.start").InnerTextAsync());
        Assert.Equal(alpha.ToString(System.Globalization.CultureInfo.InvariantCulture), await experiment.Locator("p.origin .alpha").InnerTextAsync());
        Assert.Equal(
            "Watching live or deciding when to stop: use the sequential columns; they stay valid however often you look. The fixed-horizon columns are valid only at a sample size fixed in advance, read once. Adjusted p-values account for the many comparisons on this page.",
            await experiment.Locator("p.which").InnerTextAsync());

        foreach (var g in report.GetProperty("groups").EnumerateArray())
        {
            Assert.Equal(unit, g.GetProperty("unit").GetString());
            var row = $"tr[data-group='{g.GetProperty("model_group").GetString()}']";
            async Task<string> Cell(string table, string cell) => await experiment.Locator($"table.{table} {row} td.{cell}").InnerTextAsync();
            Assert.Equal(PageFormat.Number(g.GetProperty("units")), await Cell("groups", "units"));
            Assert.Equal(PageFormat.Number(g.GetProperty("sessions")), await Cell("groups", "sessions"));
            Assert.Equal(PageFormat.Number(g.GetProperty("prompts")), await Cell("groups", "prompts"));
            Assert.Equal(PageFormat.Estimate(g.GetProperty("prompts_per_session"), PageFormat.Two), await Cell("groups", "prompts-per-session"));
            Assert.Equal(PageFormat.Estimate(g.GetProperty("tokens_per_response"), v => PageFormat.Number(v, 1)), await Cell("groups", "tokens-per-response"));
            Assert.Equal(PageFormat.Number(g.GetProperty("errors")), await Cell("groups", "errors"));
            Assert.Equal(PageFormat.Number(g.GetProperty("excluded_values")), await Cell("groups", "excluded-values"));
            Assert.Equal(PageFormat.Estimate(g.GetProperty("errors_per_session"), PageFormat.Two), await Cell("groups", "errors-per-session"));
            Assert.Equal(PageFormat.Number(g.GetProperty("stopped")), await Cell("groups", "stopped"));
            Assert.Equal(PageFormat.Proportion(g.GetProperty("stopped_rate")), await Cell("groups", "stopped-rate"));

            foreach (var (metric, cell) in new[] { ("duration_ms", "duration"), ("latency_ms", "latency") })
            {
                var d = g.GetProperty(metric);
                var mean = experiment.Locator($"table.timing {row} td.{cell}");
                Assert.Equal(PageFormat.Number(d.GetProperty("mean")), await mean.Locator(".value").InnerTextAsync());
                Assert.Equal(PageFormat.Interval(d.GetProperty("mean_low"), d.GetProperty("mean_high"), v => PageFormat.Number(v)), await mean.Locator(".ci").InnerTextAsync());
                Assert.Equal(
                    $"sd {PageFormat.Number(d.GetProperty("standard_deviation"))} · p50* {PageFormat.Number(d.GetProperty("p50"))} · p95* {PageFormat.Number(d.GetProperty("p95"))} · n {PageFormat.Number(d.GetProperty("count"))}",
                    await mean.Locator(".spread").InnerTextAsync());
            }

            var feedback = g.GetProperty("feedback");
            Assert.Equal(
                string.Join(" / ", new[] { "up", "down", "neutral", "other" }.Select(value => PageFormat.Number(feedback.GetProperty(value)))) + $" ({PageFormat.Number(feedback.GetProperty("total"))})",
                await Cell("feedback", "feedback"));
            Assert.Equal(PageFormat.Proportion(feedback.GetProperty("up_rate")), await Cell("feedback", "up-rate"));
            Assert.Equal(PageFormat.Proportion(feedback.GetProperty("down_rate")), await Cell("feedback", "down-rate"));
            Assert.Equal(PageFormat.Estimate(g.GetProperty("implicit").GetProperty("copies_per_response"), PageFormat.Two), await Cell("feedback", "copies-per-response"));
        }

        var comparisons = report.GetProperty("comparisons").EnumerateArray().ToList();
        Assert.Single(comparisons);
        var comparison = comparisons[0];
        Assert.Equal(unit, comparison.GetProperty("unit").GetString());
        await AssertShowsReadoutAsync(experiment.Locator($"div.readout[data-treatment='{comparison.GetProperty("treatment").GetString()}']"), comparison.GetProperty("readout"));
        Assert.Contains($"{comparison.GetProperty("treatment").GetString()} − {comparison.GetProperty("baseline").GetString()}", await experiment.Locator("table.comparisons").InnerTextAsync());
        var metrics = new (string Key, Func<double, string> Value, Func<double, string> Difference)[]
        {
            ("up_rate", PageFormat.Percent, PageFormat.PercentagePoints),
            ("latency_ms", v => PageFormat.Number(v), v => PageFormat.Number(v)),
            ("duration_ms", v => PageFormat.Number(v), v => PageFormat.Number(v)),
            ("prompts_per_session", PageFormat.Two, PageFormat.Two),
            ("errors_per_session", PageFormat.Two, PageFormat.Two),
            ("stopped_rate", PageFormat.Percent, PageFormat.PercentagePoints),
        };
        foreach (var (key, value, difference) in metrics)
        {
            var d = comparison.GetProperty(key);
            var row = experiment.Locator($"table.comparisons tr[data-treatment='{comparison.GetProperty("treatment").GetString()}'][data-metric='{key}']");
            Assert.Equal(PageFormat.Or(d.GetProperty("baseline_value"), value), await row.Locator("td.baseline-value").InnerTextAsync());
            Assert.Equal(PageFormat.Or(d.GetProperty("treatment_value"), value), await row.Locator("td.treatment-value").InnerTextAsync());
            Assert.Equal(
                PageFormat.Join(PageFormat.Or(d.GetProperty("value"), difference), PageFormat.Interval(d.GetProperty("low"), d.GetProperty("high"), difference)),
                await row.Locator("td.difference").InnerTextAsync());
            Assert.Equal(PageFormat.Or(d.GetProperty("z"), v => PageFormat.Number(v, 2)), await row.Locator("td.z").InnerTextAsync());
            Assert.Equal(PageFormat.Or(d.GetProperty("p_value"), PageFormat.PValue), await row.Locator("td.p").InnerTextAsync());
            Assert.Equal(PageFormat.Or(d.GetProperty("holm_p_value"), PageFormat.PValue), await row.Locator("td.holm-p").InnerTextAsync());
            Assert.Equal(PageFormat.Or(d.GetProperty("benjamini_hochberg_p_value"), PageFormat.PValue), await row.Locator("td.bh-p").InnerTextAsync());
            var sequential = d.GetProperty("sequential");
            Assert.Equal(
                sequential.ValueKind == JsonValueKind.Null ? "–"
                    : PageFormat.Join(difference(sequential.GetProperty("value").GetDouble()), PageFormat.Interval(sequential.GetProperty("low"), sequential.GetProperty("high"), difference)),
                await row.Locator("td.sequential").InnerTextAsync());
            Assert.Equal(
                sequential.ValueKind == JsonValueKind.Null ? "–" : PageFormat.PValue(sequential.GetProperty("p_value").GetDouble()),
                await row.Locator("td.sequential-p").InnerTextAsync());
            Assert.Equal(
                sequential.ValueKind != JsonValueKind.Null && sequential.GetProperty("p_value").GetDouble() < alpha,
                (await row.Locator("td.sequential-p").GetAttributeAsync("class"))!.Contains("significant", StringComparison.Ordinal));
        }
    }

    /// <summary>The readout of one treatment: decision badge, the server's reasons in order, each guardrail's figures.</summary>
    private static async Task AssertShowsReadoutAsync(ILocator shown, JsonElement readout)
    {
        var decision = readout.GetProperty("decision").GetString()!;
        Assert.Equal(decision, await shown.GetAttributeAsync("data-decision"));
        var label = decision switch
        {
            "ship" => "Ship",
            "keep_baseline" => "Keep baseline",
            "inconclusive" => "Inconclusive",
            "guardrail_breached" => "Guardrail breached",
            _ => throw new InvalidOperationException($"Unknown decision {decision}"),
        };
        Assert.Equal(label, await shown.Locator(".decision").InnerTextAsync());
        Assert.Contains(decision, await shown.Locator(".decision").GetAttributeAsync("class"));
        Assert.Equal(readout.GetProperty("primary_metric").GetString(), await shown.Locator("b.primary").InnerTextAsync());
        var reasons = readout.GetProperty("reasons").EnumerateArray().Select(r => r.GetString()!).ToArray();
        Assert.NotEmpty(reasons);
        Assert.Equal(reasons, await shown.Locator("ul.reasons li").AllInnerTextsAsync());

        var guardrails = readout.GetProperty("guardrails").EnumerateArray().ToList();
        Assert.NotEmpty(guardrails);
        Assert.Equal(guardrails.Count, await shown.Locator("table.guardrails tbody tr").CountAsync());
        foreach (var g in guardrails)
        {
            var row = shown.Locator($"table.guardrails tr[data-guardrail='{g.GetProperty("name").GetString()}']");
            Func<double, string> format = g.GetProperty("metric").GetString() switch
            {
                "errors_per_session" => PageFormat.Two,
                "stopped_rate" => PageFormat.Percent,
                _ => v => PageFormat.Number(v) + " ms",
            };
            var status = g.GetProperty("status").GetString()!;
            Assert.Equal(status, await row.GetAttributeAsync("data-status"));
            Assert.Equal(status.Replace('_', ' '), await row.Locator("td.status").InnerTextAsync());
            Assert.Equal(g.GetProperty("metric").GetString(), await row.Locator("td.metric").InnerTextAsync());
            Assert.Equal(g.GetProperty("higher_is_worse").GetBoolean() ? "higher is worse" : "lower is worse", await row.Locator("td.direction").InnerTextAsync());
            Assert.Equal((g.GetProperty("higher_is_worse").GetBoolean() ? "+" : "−") + PageFormat.Percent(g.GetProperty("threshold").GetDouble()), await row.Locator("td.threshold").InnerTextAsync());
            Assert.Equal(PageFormat.Or(g.GetProperty("baseline_value"), format), await row.Locator("td.baseline-value").InnerTextAsync());
            Assert.Equal(PageFormat.Or(g.GetProperty("treatment_value"), format), await row.Locator("td.treatment-value").InnerTextAsync());
            Assert.Equal(PageFormat.Or(g.GetProperty("relative_change"), PageFormat.SignedPercent), await row.Locator("td.relative-change").InnerTextAsync());
            Assert.Equal(PageFormat.Or(g.GetProperty("sequential_p_value"), PageFormat.PValue), await row.Locator("td.sequential-p").InnerTextAsync());
        }
    }

    private async Task<JsonElement> GetJsonAsync(string path)
    {
        using var response = await _http.GetAsync(path);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"{path}: {(int)response.StatusCode} {text}");
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    private async Task<JsonElement> PostAsync(string path, string json)
    {
        using var response = await _http.PostAsync(path, new StringContent(json, Encoding.UTF8, "application/json"));
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"{path}: {(int)response.StatusCode} {text}");
        return JsonDocument.Parse(text).RootElement.Clone();
    }
}

/// <summary>
/// The analytics page's number formats, to compare its text with the API's values. The page rounds with JavaScript
/// (toLocaleString en-US, toFixed): the exact binary value, ties away from zero; .NET's "N"/"F" formats round an exact
/// tie (162.5) to even, so the digits are computed here exactly.
/// </summary>
internal static class PageFormat
{
    private static readonly System.Globalization.CultureInfo Invariant = System.Globalization.CultureInfo.InvariantCulture;

    /// <summary>toLocaleString('en-US', {minimumFractionDigits: digits, maximumFractionDigits: digits}).</summary>
    public static string Number(double value, int digits = 0) => Fixed(value, digits, "N");

    public static string Number(JsonElement value, int digits = 0) => Or(value, v => Number(v, digits));

    public static string Two(double value) => Number(value, 2);

    public static string Percent(double value) => Fixed(100 * value, 1, "F") + " %";

    /// <summary>A relative change: "+12.5 %", "-3.0 %".</summary>
    public static string SignedPercent(double value) => (value > 0 ? "+" : "") + Percent(value);

    public static string PercentagePoints(double value) => Fixed(100 * value, 1, "F") + " pp";

    public static string PValue(double value) => value < 0.0001 ? "< 0.0001" : Fixed(value, 4, "F");

    public static string Or(JsonElement value, Func<double, string> format) => value.ValueKind == JsonValueKind.Null ? "–" : format(value.GetDouble());

    public static string Interval(JsonElement low, JsonElement high, Func<double, string> format) =>
        low.ValueKind == JsonValueKind.Null || high.ValueKind == JsonValueKind.Null ? "" : $"[{format(low.GetDouble())}, {format(high.GetDouble())}]";

    /// <summary>"value [low, high]" of an estimate {value, low, high}.</summary>
    public static string Estimate(JsonElement estimate, Func<double, string> format) =>
        Join(Or(estimate.GetProperty("value"), format), Interval(estimate.GetProperty("low"), estimate.GetProperty("high"), format));

    /// <summary>"rate [low, high]" of a proportion {successes, trials, rate, low, high}, in percent.</summary>
    public static string Proportion(JsonElement proportion) =>
        Join(Or(proportion.GetProperty("rate"), Percent), Interval(proportion.GetProperty("low"), proportion.GetProperty("high"), Percent));

    public static string Join(string value, string interval) => interval.Length == 0 ? value : value + " " + interval;

    /// <summary>
    /// The page's decimals for a custom figure by magnitude (digitsFor): none from 100, two from 1, three significant digits
    /// below 1 (at most 8), two for zero.
    /// </summary>
    public static int DigitsFor(double value)
    {
        var a = Math.Abs(value);
        if (!double.IsFinite(a) || a == 0)
        {
            return 2;
        }

        if (a >= 100)
        {
            return 0;
        }

        if (a >= 1)
        {
            return 2;
        }

        var digits = 3;
        while (a < 0.1 && digits < 8)
        {
            a *= 10;
            digits++;
        }

        return digits;
    }

    private static bool IsShare(string kind) => kind is "proportion" or "retention" or "funnel";

    /// <summary>A custom figure's value: shares (proportion, retention, funnel steps) in percent, others at <see cref="DigitsFor"/>.</summary>
    public static string Custom(string kind, double value) => IsShare(kind) ? Percent(value) : Number(value, DigitsFor(value));

    /// <summary>The format of a custom figure's interval: the digits of its value.</summary>
    public static Func<double, string> CustomAt(string kind, double center) => IsShare(kind) ? Percent : v => Number(v, DigitsFor(center));

    /// <summary>The format of a custom difference and its interval: percentage points for shares, else the digits of the difference.</summary>
    public static Func<double, string> CustomDifferenceAt(string kind, JsonElement center) =>
        IsShare(kind) ? PercentagePoints : v => Number(v, center.ValueKind == JsonValueKind.Null ? 2 : DigitsFor(center.GetDouble()));

    /// <summary>A custom figure's counts, "events 12 · values 10 · missing 1": missing, ignored, excluded and unpriced only when not zero.</summary>
    public static string CustomCounts(JsonElement counts) => string.Join(" · ", counts.EnumerateObject()
        .Where(c => c.Value.GetInt64() != 0 || c.Name is not ("missing" or "ignored" or "excluded" or "unpriced"))
        .Select(c => $"{c.Name} {Number(c.Value.GetInt64())}"));

    /// <summary>A negative value keeps its sign when it rounds to zero ("-0.00"), as in JavaScript.</summary>
    private static string Fixed(double value, int digits, string format)
    {
        var text = RoundMagnitude(value, digits).ToString(format + digits, Invariant);
        return value < 0 ? "-" + text : text;
    }

    /// <summary>|value|, exactly, rounded to <paramref name="digits"/> decimals with ties away from zero.</summary>
    private static decimal RoundMagnitude(double value, int digits)
    {
        var bits = BitConverter.DoubleToInt64Bits(Math.Abs(value));
        var exponent = (int)((bits >> 52) & 0x7FF);
        var mantissa = bits & 0xF_FFFF_FFFF_FFFFL;
        if (exponent == 0)
        {
            exponent = 1; // subnormal
        }
        else
        {
            mantissa |= 1L << 52;
        }

        exponent -= 1075; // |value| = mantissa · 2^exponent
        var numerator = new System.Numerics.BigInteger(mantissa) * System.Numerics.BigInteger.Pow(10, digits);
        var denominator = System.Numerics.BigInteger.One;
        if (exponent > 0)
        {
            numerator <<= exponent;
        }
        else
        {
            denominator <<= -exponent;
        }

        var scaled = System.Numerics.BigInteger.DivRem(numerator, denominator, out var remainder);
        if (remainder * 2 >= denominator)
        {
            scaled += 1;
        }

        return (decimal)scaled / (decimal)Math.Pow(10, digits);
    }
}
