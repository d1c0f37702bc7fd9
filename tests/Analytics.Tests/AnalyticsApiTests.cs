using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using SessionTracking.TestSupport;

namespace SessionTracking.Analytics.Tests;

/// <summary>Every figure of the report against hand computations on <see cref="Dataset"/>.</summary>
[TestCategory("BVT")]
public sealed class AnalyticsApiTests(SeededGateway gateway) : IClassFixture<SeededGateway>
{
    private const double Tolerance = 1e-9;

    [Fact]
    public async Task Control_group_figures_match_hand_computation()
    {
        var control = Group(await ReportAsync("exp-a"), "control");

        Assert.Equal(4, control.GetProperty("sessions").GetInt64());
        Assert.Equal(3, control.GetProperty("ended_sessions").GetInt64());

        // Ended durations 30 000, 60 000, 120 000: mean 70 000; p50 = 60 000; p95 at rank 1.9 = 60 000 + 0.9 × 60 000.
        AssertDistribution(control.GetProperty("duration_ms"), 3, 70_000, 60_000, 114_000);

        // Numeric latencies 1000, 2000, 3000, 4000 ("fast" is not a number): mean 2500; p50 at rank 1.5 = 2500;
        // p95 at rank 2.85 = 3000 + 0.85 × 1000.
        AssertDistribution(control.GetProperty("latency_ms"), 4, 2500, 2500, 3850);
        AssertDistribution(control.GetProperty("time_to_first_token_ms"), 1, 200, 200, 200);

        Assert.Equal(5, control.GetProperty("prompts").GetInt64());
        Assert.Equal(5, control.GetProperty("responses").GetInt64());
        Assert.Equal(1.25, control.GetProperty("prompts_per_session").GetDouble(), Tolerance);

        // Feedback up 2, down 1, neutral 1 of 4; Wilson(2, 4) = [0.150039, 0.849961].
        var feedback = control.GetProperty("feedback");
        Assert.Equal(2, feedback.GetProperty("up").GetInt64());
        Assert.Equal(1, feedback.GetProperty("down").GetInt64());
        Assert.Equal(1, feedback.GetProperty("neutral").GetInt64());
        var up = feedback.GetProperty("up_rate");
        Assert.Equal(0.5, up.GetProperty("rate").GetDouble(), Tolerance);
        Assert.Equal(0.15003898915214953, up.GetProperty("low").GetDouble(), 1e-9);
        Assert.Equal(0.8499610108478505, up.GetProperty("high").GetDouble(), 1e-9);
        Assert.Equal(0.25, feedback.GetProperty("down_rate").GetProperty("rate").GetDouble(), Tolerance);
        Assert.Equal(0.25, feedback.GetProperty("neutral_rate").GetProperty("rate").GetDouble(), Tolerance);

        // One copy (c1) and one selection (c3) in 4 sessions; 1 copy per 5 responses.
        var implicitFeedback = control.GetProperty("implicit");
        Assert.Equal(1, implicitFeedback.GetProperty("copies").GetInt64());
        Assert.Equal(1, implicitFeedback.GetProperty("selections").GetInt64());
        Assert.Equal(0.25, implicitFeedback.GetProperty("sessions_with_copy").GetProperty("rate").GetDouble(), Tolerance);
        Assert.Equal(0.25, implicitFeedback.GetProperty("sessions_with_selection").GetProperty("rate").GetDouble(), Tolerance);
        Assert.Equal(0.2, implicitFeedback.GetProperty("copies_per_response").GetDouble(), Tolerance);
    }

    [Fact]
    public async Task Treatment_group_figures_match_hand_computation()
    {
        var treatment = Group(await ReportAsync("exp-a"), "treatment");

        Assert.Equal(2, treatment.GetProperty("sessions").GetInt64());
        Assert.Equal(2, treatment.GetProperty("ended_sessions").GetInt64());
        AssertDistribution(treatment.GetProperty("duration_ms"), 2, 15_000, 15_000, 19_500);
        AssertDistribution(treatment.GetProperty("latency_ms"), 2, 600, 600, 690);
        AssertDistribution(treatment.GetProperty("time_to_first_token_ms"), 1, 100, 100, 100);
        Assert.Equal(1.0, treatment.GetProperty("prompts_per_session").GetDouble(), Tolerance);
        var feedback = treatment.GetProperty("feedback");
        Assert.Equal(3, feedback.GetProperty("up").GetInt64());
        Assert.Equal(1.0, feedback.GetProperty("up_rate").GetProperty("rate").GetDouble(), Tolerance);
        Assert.Equal(0.43850296824495455, feedback.GetProperty("up_rate").GetProperty("low").GetDouble(), 1e-9);
        var implicitFeedback = treatment.GetProperty("implicit");
        Assert.Equal(2, implicitFeedback.GetProperty("copies").GetInt64());
        Assert.Equal(0.5, implicitFeedback.GetProperty("sessions_with_copy").GetProperty("rate").GetDouble(), Tolerance);
        Assert.Equal(1.0, implicitFeedback.GetProperty("copies_per_response").GetDouble(), Tolerance);
    }

    [Fact]
    public async Task Comparison_tests_the_feedback_difference_and_bootstraps_means()
    {
        var report = await ReportAsync("exp-a");
        var comparison = Assert.Single(report.GetProperty("comparisons").EnumerateArray());
        Assert.Equal("control", comparison.GetProperty("baseline").GetString());
        Assert.Equal("treatment", comparison.GetProperty("treatment").GetString());

        // Up 2/4 vs 3/3: pooled 5/7, SE = sqrt(5/7 · 2/7 · (1/4 + 1/3)), z = 0.5 / SE = 1.449138, p = 0.147299.
        var upRate = comparison.GetProperty("up_rate");
        Assert.Equal(0.5, upRate.GetProperty("difference").GetDouble(), Tolerance);
        Assert.Equal(1.4491376746189437, upRate.GetProperty("z").GetDouble(), 1e-9);
        Assert.Equal(0.1472991386226761, upRate.GetProperty("p_value").GetDouble(), 1e-6);

        // Latency 600 − 2500 = −1900; every resample of treatment is below every resample of control, so the interval
        // lies within [max(T) − min(C), min(T) − max(C)] = [−500, −3500] ... i.e. it excludes zero.
        var latency = comparison.GetProperty("latency_ms");
        Assert.Equal(-1900, latency.GetProperty("difference").GetDouble(), Tolerance);
        Assert.InRange(latency.GetProperty("low").GetDouble(), -3500, -1900);
        Assert.InRange(latency.GetProperty("high").GetDouble(), -1900, -500);
        var duration = comparison.GetProperty("duration_ms");
        Assert.Equal(15_000 - 70_000, duration.GetProperty("difference").GetDouble(), Tolerance);

        // Same data, same seed: the same interval on every call.
        var again = Assert.Single((await ReportAsync("exp-a")).GetProperty("comparisons").EnumerateArray());
        Assert.Equal(latency.GetProperty("low").GetDouble(), again.GetProperty("latency_ms").GetProperty("low").GetDouble());
    }

    [Fact]
    public async Task Sample_ratio_check_uses_the_configured_split()
    {
        var srm = (await ReportAsync("exp-a")).GetProperty("sample_ratio");
        // 4 vs 2 against 50/50: expected 3 and 3, chi-square = 1/3 + 1/3, df 1, p = erfc(sqrt(1/3)) = 0.414216.
        Assert.Equal(2.0 / 3, srm.GetProperty("chi_square").GetDouble(), 1e-12);
        Assert.Equal(1, srm.GetProperty("degrees_of_freedom").GetInt32());
        Assert.Equal(0.41421617824252516, srm.GetProperty("p_value").GetDouble(), 1e-9);
        Assert.Equal(3, srm.GetProperty("expected").GetProperty("control").GetDouble(), Tolerance);
        Assert.False(srm.GetProperty("mismatch").GetBoolean());

        // exp-b has no configured split: no check.
        Assert.Equal(JsonValueKind.Null, (await ReportAsync("exp-b")).GetProperty("sample_ratio").ValueKind);
    }

    [Fact]
    public async Task Guide_pipelines_and_report_give_the_same_numbers()
    {
        // Over everything (both experiments): control latencies 1000..4000 and 6000 → 3200; durations 60 000,
        // 120 000, 30 000, 40 000 → 62 500 (c4 has no end_time: $avg ignores its null). Treatment 600 and 15 000.
        var all = await GetJsonAsync("/analytics/guide");
        Assert.Equal(3200, Average(all, "avg_latency_by_model_group", "control", "avg_latency"), Tolerance);
        Assert.Equal(600, Average(all, "avg_latency_by_model_group", "treatment", "avg_latency"), Tolerance);
        Assert.Equal(62_500, Average(all, "avg_duration_by_model_group", "control", "avg_duration_ms"), Tolerance);
        Assert.Equal(15_000, Average(all, "avg_duration_by_model_group", "treatment", "avg_duration_ms"), Tolerance);

        // Restricted to the first day (exp-a only), the guide's pipelines and the report's means agree exactly.
        var to = Dataset.T0 + Dataset.Day;
        var guide = await GetJsonAsync($"/analytics/guide?to={to}");
        var report = (await GetJsonAsync($"/analytics?to={to}")).GetProperty("experiments");
        var experiment = Assert.Single(report.EnumerateArray());
        foreach (var group in experiment.GetProperty("groups").EnumerateArray())
        {
            var name = group.GetProperty("model_group").GetString()!;
            Assert.Equal(group.GetProperty("latency_ms").GetProperty("mean").GetDouble(), Average(guide, "avg_latency_by_model_group", name, "avg_latency"), Tolerance);
            Assert.Equal(group.GetProperty("duration_ms").GetProperty("mean").GetDouble(), Average(guide, "avg_duration_by_model_group", name, "avg_duration_ms"), Tolerance);
        }

        Assert.Equal(2500, Average(guide, "avg_latency_by_model_group", "control", "avg_latency"), Tolerance);
        Assert.Equal(70_000, Average(guide, "avg_duration_by_model_group", "control", "avg_duration_ms"), Tolerance);
    }

    [Fact]
    public async Task Time_range_and_experiment_filters_select_sessions_by_start_time()
    {
        var all = (await GetJsonAsync("/analytics")).GetProperty("experiments");
        Assert.Equal(["exp-a", "exp-b"], all.EnumerateArray().Select(e => e.GetProperty("experiment_id").GetString()));

        // [T0 + 1000, T0 + 2000): c2 and t2 only.
        var from = DateTimeOffset.FromUnixTimeMilliseconds(Dataset.T0 + 1000).ToString("O");
        var window = (await GetJsonAsync($"/analytics?from={Uri.EscapeDataString(from)}&to={Dataset.T0 + 2000}")).GetProperty("experiments");
        var groups = Assert.Single(window.EnumerateArray()).GetProperty("groups").EnumerateArray().ToList();
        Assert.All(groups, g => Assert.Equal(1, g.GetProperty("sessions").GetInt64()));
        // c2 answered in 2000 and 3000 ms: median 2500.
        Assert.Equal(2500, Group(window[0], "control").GetProperty("latency_ms").GetProperty("p50").GetDouble(), Tolerance);

        var exp = (await GetJsonAsync("/analytics?experiment_id=exp-b")).GetProperty("experiments");
        Assert.Equal(6000, Group(Assert.Single(exp.EnumerateArray()), "control").GetProperty("latency_ms").GetProperty("mean").GetDouble(), Tolerance);
    }

    [Fact]
    public async Task Session_list_links_the_newest_sessions_first()
    {
        var sessions = (await GetJsonAsync("/analytics/sessions?experiment_id=exp-a&model_group=treatment")).GetProperty("sessions");
        Assert.Equal(["t2", "t1"], sessions.EnumerateArray().Select(s => s.GetProperty("session_id").GetString()));
        Assert.Equal(3, sessions[0].GetProperty("event_count").GetInt64());
        Assert.Equal(20_000, sessions[0].GetProperty("duration_ms").GetDouble(), Tolerance);
    }

    [Theory]
    [InlineData("/analytics?from=yesterday")]
    [InlineData("/analytics?from=2024-01-02T00:00:00Z&to=2024-01-01T00:00:00Z")]
    [InlineData("/analytics/sessions?limit=0")]
    [InlineData("/analytics/sessions?limit=abc")]
    [InlineData("/analytics/guide?to=99999999999999999999")]
    public async Task Bad_parameters_are_400_problems(string path)
    {
        using var response = await gateway.Client.GetAsync(path);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }

    private async Task<JsonElement> ReportAsync(string experiment) =>
        Assert.Single((await GetJsonAsync($"/analytics?experiment_id={experiment}")).GetProperty("experiments").EnumerateArray());

    private async Task<JsonElement> GetJsonAsync(string path)
    {
        using var response = await gateway.Client.GetAsync(path);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return await response.Content.ReadFromJsonAsync<JsonElement>();
    }

    private static JsonElement Group(JsonElement report, string group) =>
        report.GetProperty("groups").EnumerateArray().Single(g => g.GetProperty("model_group").GetString() == group);

    private static double Average(JsonElement guide, string pipeline, string group, string field) =>
        guide.GetProperty(pipeline).EnumerateArray().Single(r => r.GetProperty("_id").GetString() == group).GetProperty(field).GetDouble();

    private static void AssertDistribution(JsonElement distribution, long count, double mean, double p50, double p95)
    {
        Assert.Equal(count, distribution.GetProperty("count").GetInt64());
        Assert.Equal(mean, distribution.GetProperty("mean").GetDouble(), Tolerance);
        Assert.Equal(p50, distribution.GetProperty("p50").GetDouble(), Tolerance);
        Assert.Equal(p95, distribution.GetProperty("p95").GetDouble(), Tolerance);
    }
}
