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
        var report = await ReportAsync("exp-a");
        var control = Group(report, "control");

        // exp-a has a configured split: users are the unit (one session each here, so the figures are the sessions').
        Assert.Equal("user", report.GetProperty("unit").GetString());
        Assert.Equal("user", control.GetProperty("unit").GetString());
        Assert.Equal(4, control.GetProperty("units").GetInt64());
        Assert.Equal(4, control.GetProperty("sessions").GetInt64());
        Assert.Equal(3, control.GetProperty("ended_sessions").GetInt64());

        // Ended durations 30 000, 60 000, 120 000: mean 70 000; p50 = 60 000; p95 at rank 1.9 = 60 000 + 0.9 × 60 000.
        AssertDistribution(control.GetProperty("duration_ms"), 3, 70_000, 60_000, 114_000);

        // Numeric latencies 1000, 2000, 3000, 4000 ("fast" is not a number): mean 2500; p50 at rank 1.5 = 2500;
        // p95 at rank 2.85 = 3000 + 0.85 × 1000.
        AssertDistribution(control.GetProperty("latency_ms"), 4, 2500, 2500, 3850);
        AssertDistribution(control.GetProperty("time_to_first_token_ms"), 1, 200, 200, 200);

        // Mean latency per unit as a ratio of sums: per user (n, Σ) = (1, 1000), (2, 5000), (0, 0), (1, 4000).
        // S_xx = 2/3, S_yy = 17e6/3, S_xy = 5000/3, R = 2500: Var = (S_yy − 2R·S_xy + R²·S_xx) / (n·x̄²) = 375 000.
        var latency = control.GetProperty("latency_ms");
        Assert.Equal(2500 - (Statistics.Z95 * Math.Sqrt(375_000)), latency.GetProperty("mean_low").GetDouble(), 1e-6);
        Assert.Equal(2500 + (Statistics.Z95 * Math.Sqrt(375_000)), latency.GetProperty("mean_high").GetDouble(), 1e-6);
        Assert.Equal(Math.Sqrt(5.0 / 3 * 1e6), latency.GetProperty("standard_deviation").GetDouble(), 1e-6);

        Assert.Equal(5, control.GetProperty("prompts").GetInt64());
        Assert.Equal(5, control.GetProperty("responses").GetInt64());
        Assert.Equal(1.25, control.GetProperty("prompts_per_session").GetProperty("value").GetDouble(), Tolerance);

        // Feedback up 2, down 1, neutral 1 of 4; per user (x, y) = (1, 1), (1, 0), (1, 1), (1, 0): Var = (1/3) / 4, so
        // 0.5 ± 1.96·0.2887 = [−0.066, 1.066], clipped to [0, 1].
        var feedback = control.GetProperty("feedback");
        Assert.Equal((2L, 1L, 1L, 0L, 4L), (feedback.GetProperty("up").GetInt64(), feedback.GetProperty("down").GetInt64(), feedback.GetProperty("neutral").GetInt64(), feedback.GetProperty("other").GetInt64(), feedback.GetProperty("total").GetInt64()));
        var up = feedback.GetProperty("up_rate");
        Assert.Equal(0.5, up.GetProperty("rate").GetDouble(), Tolerance);
        Assert.Equal(0, up.GetProperty("low").GetDouble());
        Assert.Equal(1, up.GetProperty("high").GetDouble());
        Assert.Equal(0.25, feedback.GetProperty("down_rate").GetProperty("rate").GetDouble(), Tolerance);
        Assert.Equal(0.25, feedback.GetProperty("neutral_rate").GetProperty("rate").GetDouble(), Tolerance);

        // One copy (c1) and one selection (c3) in 4 sessions; 1 copy per 5 responses.
        var implicitFeedback = control.GetProperty("implicit");
        Assert.Equal(1, implicitFeedback.GetProperty("copies").GetInt64());
        Assert.Equal(1, implicitFeedback.GetProperty("selections").GetInt64());
        Assert.Equal(0.25, implicitFeedback.GetProperty("sessions_with_copy").GetProperty("rate").GetDouble(), Tolerance);
        Assert.Equal(0.25, implicitFeedback.GetProperty("sessions_with_selection").GetProperty("rate").GetDouble(), Tolerance);
        Assert.Equal(0.2, implicitFeedback.GetProperty("copies_per_response").GetProperty("value").GetDouble(), Tolerance);
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
        Assert.Equal(1.0, treatment.GetProperty("prompts_per_session").GetProperty("value").GetDouble(), Tolerance);
        var feedback = treatment.GetProperty("feedback");
        Assert.Equal(3, feedback.GetProperty("up").GetInt64());
        Assert.Equal(1.0, feedback.GetProperty("up_rate").GetProperty("rate").GetDouble(), Tolerance);
        var implicitFeedback = treatment.GetProperty("implicit");
        Assert.Equal(2, implicitFeedback.GetProperty("copies").GetInt64());
        Assert.Equal(0.5, implicitFeedback.GetProperty("sessions_with_copy").GetProperty("rate").GetDouble(), Tolerance);
        Assert.Equal(1.0, implicitFeedback.GetProperty("copies_per_response").GetProperty("value").GetDouble(), Tolerance);
    }

    [Fact]
    public async Task Comparisons_are_differences_of_the_reports_own_means_with_unit_level_intervals()
    {
        var report = await ReportAsync("exp-a");
        var comparison = Assert.Single(report.GetProperty("comparisons").EnumerateArray());
        Assert.Equal("control", comparison.GetProperty("baseline").GetString());
        Assert.Equal("treatment", comparison.GetProperty("treatment").GetString());
        Assert.Equal("user", comparison.GetProperty("unit").GetString());

        // Up-rate 2/4 vs 3/3. Control Var = 1/12 (above); treatment per user (2, 2), (1, 1): R = 1, every unit on the
        // line y = x, Var = 0. z = 0.5 / sqrt(1/12) = 1.7320508, p = erfc(z/√2) = 0.0832645.
        var upRate = comparison.GetProperty("up_rate");
        Assert.Equal(0.5, upRate.GetProperty("value").GetDouble(), Tolerance);
        Assert.Equal(Math.Sqrt(3), upRate.GetProperty("z").GetDouble(), 1e-9);
        Assert.Equal(0.08326451666355043, upRate.GetProperty("p_value").GetDouble(), 1e-9);

        // Latency: the difference of the report's means (600 − 2500); Var 375 000 (control) + 10 000 (treatment).
        var control = Group(report, "control");
        var treatment = Group(report, "treatment");
        var latency = comparison.GetProperty("latency_ms");
        var difference = treatment.GetProperty("latency_ms").GetProperty("mean").GetDouble() - control.GetProperty("latency_ms").GetProperty("mean").GetDouble();
        Assert.Equal(-1900, difference, Tolerance);
        Assert.Equal(difference, latency.GetProperty("value").GetDouble(), Tolerance);
        Assert.Equal(-1900 - (Statistics.Z95 * Math.Sqrt(385_000)), latency.GetProperty("low").GetDouble(), 1e-6);
        Assert.Equal(-1900 + (Statistics.Z95 * Math.Sqrt(385_000)), latency.GetProperty("high").GetDouble(), 1e-6);
        var duration = comparison.GetProperty("duration_ms");
        Assert.Equal(15_000 - 70_000, duration.GetProperty("value").GetDouble(), Tolerance);
        Assert.Equal(treatment.GetProperty("duration_ms").GetProperty("mean").GetDouble() - control.GetProperty("duration_ms").GetProperty("mean").GetDouble(), duration.GetProperty("value").GetDouble(), Tolerance);
    }

    [Fact]
    public async Task Comparisons_carry_sequential_results_adjusted_p_values_and_a_readout()
    {
        var report = await ReportAsync("exp-a");
        Assert.Equal("2023-11-14T22:13:20.000Z", report.GetProperty("start").GetDateTimeOffset().ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(0.05, report.GetProperty("alpha").GetDouble());
        var comparison = Assert.Single(report.GetProperty("comparisons").EnumerateArray());
        var up = comparison.GetProperty("up_rate");

        // The sequential result covers the same data here (no window): same difference, a wider interval, a larger p.
        var sequential = up.GetProperty("sequential");
        Assert.Equal(up.GetProperty("value").GetDouble(), sequential.GetProperty("value").GetDouble(), Tolerance);
        Assert.True(sequential.GetProperty("p_value").GetDouble() >= up.GetProperty("p_value").GetDouble());
        Assert.True(sequential.GetProperty("high").GetDouble() - sequential.GetProperty("low").GetDouble() > up.GetProperty("high").GetDouble() - up.GetProperty("low").GetDouble());

        // Six metrics in one comparison: Holm multiplies the smallest raw p by 6 (capped at 1).
        var raw = new[] { "up_rate", "latency_ms", "duration_ms", "prompts_per_session", "errors_per_session", "stopped_rate" }
            .Select(m => comparison.GetProperty(m)).Where(d => d.GetProperty("p_value").ValueKind == JsonValueKind.Number).ToList();
        var smallest = raw.MinBy(d => d.GetProperty("p_value").GetDouble());
        Assert.Equal(Math.Min(1, raw.Count * smallest.GetProperty("p_value").GetDouble()), smallest.GetProperty("holm_p_value").GetDouble(), 1e-12);

        // Readout: 6 users cannot settle the up-rate; the latency p95 guardrail is fine (treatment is faster).
        var readout = comparison.GetProperty("readout");
        Assert.Equal("inconclusive", readout.GetProperty("decision").GetString());
        Assert.Equal("up_rate", readout.GetProperty("primary_metric").GetString());
        var guardrail = Assert.Single(readout.GetProperty("guardrails").EnumerateArray());
        Assert.Equal(("slow", "latency_p95", "ok"), (guardrail.GetProperty("name").GetString(), guardrail.GetProperty("metric").GetString(), guardrail.GetProperty("status").GetString()));
        Assert.True(guardrail.GetProperty("relative_change").GetDouble() < -0.5);
    }

    [Theory]
    [InlineData("metric=up_rate&mde=0.05&baseline_rate=0.10", 686, "two proportions (Fleiss, no continuity correction)")]
    [InlineData("metric=latency_ms&mde=0.5&baseline_sd=1", 63, "two means")]
    // α = 0.01, power 0.9: (2.5758·0.46771 + 1.28155·0.46637)² / 0.05² = 1.80241² / 0.0025 = 1299.5.
    [InlineData("metric=up_rate&mde=0.05&baseline_rate=0.10&power=0.9&alpha=0.01", 1_300, "two proportions (Fleiss, no continuity correction)")]
    public async Task Sample_size_plans_match_the_tables(string query, long perGroup, string method)
    {
        var plan = await GetJsonAsync("/analytics/plan?" + query);
        Assert.Equal(perGroup, plan.GetProperty("units_per_group").GetInt64());
        Assert.Equal(method, plan.GetProperty("method").GetString());
    }

    [Fact]
    public async Task A_plan_from_the_experiments_own_baseline_gives_days_at_its_traffic()
    {
        // Control's mean latency per user: 2500 ms with Var 375 000 over 4 users, so σ² = 1.5e6 per user; 500 ms to detect.
        var plan = await GetJsonAsync("/analytics/plan?experiment_id=exp-a&metric=latency_ms&mde=500");
        Assert.Equal("user", plan.GetProperty("unit").GetString());
        Assert.Equal(2500, plan.GetProperty("baseline_value").GetDouble(), Tolerance);
        Assert.Equal(Math.Sqrt(1.5e6), plan.GetProperty("standard_deviation").GetDouble(), 1e-6);
        var expected = 2 * Math.Pow(1.959963984540054 + 0.8416212335729143, 2) * 1.5e6 / (500 * 500);
        Assert.Equal(Math.Ceiling(expected), plan.GetProperty("units_per_group").GetInt64());
        Assert.True(plan.GetProperty("units_per_day_per_group").GetDouble() > 0);
        var days = expected / plan.GetProperty("units_per_day_per_group").GetDouble();
        Assert.InRange(plan.GetProperty("days").GetDouble(), days * (1 - 1e-9), days * (1 + 1e-9));
    }

    [Theory]
    [InlineData("/analytics/plan?metric=bananas&mde=0.1&baseline_rate=0.1")]
    [InlineData("/analytics/plan?metric=up_rate&mde=0&baseline_rate=0.1")]
    [InlineData("/analytics/plan?metric=up_rate&mde=0.1&baseline_rate=0.95")]
    [InlineData("/analytics/plan?metric=up_rate&mde=0.1&power=1")]
    [InlineData("/analytics/plan?metric=up_rate&mde=0.1")]
    [InlineData("/analytics/plan?metric=up_rate&mde=abc&baseline_rate=0.1")]
    [InlineData("/analytics/plan?metric=up_rate&mde=0.1&experiment_id=no-such-experiment")]
    public async Task Bad_plans_are_400_problems(string path)
    {
        using var response = await gateway.Client.GetAsync(path);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }

    /// <summary>
    /// Non-finite, out-of-range or unrepresentable parameters, and results that do not fit a count, are 400 problems
    /// naming the parameter: never a 500, a saturated count (9,223,372,036,854,775,807) or zero units.
    /// </summary>
    [Theory]
    [InlineData("/analytics/plan?metric=latency_ms&mde=100&baseline_sd=Infinity", "baseline_sd")]
    [InlineData("/analytics/plan?metric=latency_ms&mde=100&baseline_sd=NaN", "baseline_sd")]
    [InlineData("/analytics/plan?metric=latency_ms&mde=100&baseline_sd=1e400", "baseline_sd")]
    [InlineData("/analytics/plan?metric=up_rate&mde=0.05&baseline_rate=0.1&alpha=4.9e-324", "alpha")]
    [InlineData("/analytics/plan?metric=up_rate&mde=0.05&baseline_rate=0.1&alpha=NaN", "alpha")]
    [InlineData("/analytics/plan?metric=up_rate&mde=0.05&baseline_rate=0.1&power=NaN", "power")]
    [InlineData("/analytics/plan?metric=up_rate&mde=0.05&baseline_rate=NaN", "baseline_rate")]
    [InlineData("/analytics/plan?metric=up_rate&mde=NaN&baseline_rate=0.1", "mde")]
    [InlineData("/analytics/plan?metric=latency_ms&mde=Infinity&baseline_sd=1", "mde")]
    [InlineData("/analytics/plan?metric=latency_ms&mde=1e-300&baseline_sd=1", "mde")]
    [InlineData("/analytics/plan?metric=latency_ms&mde=1e300&baseline_sd=1", "mde")]
    [InlineData("/analytics/plan?metric=up_rate&mde=1e-320&baseline_rate=0.5", "mde")]
    [InlineData("/analytics/plan?experiment_id=exp-a&metric=latency_ms&mde=1e-300", "mde")]
    [InlineData("/analytics/plan?experiment_id=exp-a&metric=latency_ms&mde=1e300", "mde")]
    [InlineData("/analytics/plan?metric=up_rate&mde=0.05&baseline_rate=0.1&from=yesterday", "from")]
    [InlineData("/analytics?experiment_id=exp-a&to=-99999999999999999999", "to")]
    [InlineData("/analytics?experiment_id=exp-a&from=0001-01-01T00:00:00%2B14:00", "from")]
    [InlineData("/analytics/guide?to=9999-12-31T23:59:59-14:00", "to")]
    [InlineData("/exports/events.csv?from=-62135596800001", "from")]
    [InlineData("/analytics?experiment_id=exp-a&from=NaN", "from")]
    [InlineData("/analytics/sessions?limit=1e3", "limit")]
    public async Task Unrepresentable_parameters_and_results_are_400_problems_naming_the_parameter(string path, string parameter)
    {
        using var response = await gateway.Client.GetAsync(path);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{(int)response.StatusCode} {body}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains($"'{parameter}'", JsonDocument.Parse(body).RootElement.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Names_longer_than_the_wire_allows_are_400_problems_on_every_analytics_endpoint()
    {
        var name = new string('x', 1_000);
        foreach (var path in new[] { $"/analytics?baseline={name}", $"/analytics/plan?metric=up_rate&mde=0.1&experiment_id={name}", $"/analytics/guide?model_group={name}" })
        {
            using var response = await gateway.Client.GetAsync(path);
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        }
    }

    [Fact]
    public async Task Sessions_are_the_unit_on_request_and_for_experiments_without_a_split()
    {
        var bySession = Assert.Single((await GetJsonAsync("/analytics?experiment_id=exp-a&unit=session")).GetProperty("experiments").EnumerateArray());
        Assert.Equal("session", bySession.GetProperty("unit").GetString());
        Assert.Equal(4, Group(bySession, "control").GetProperty("units").GetInt64());
        Assert.Equal("session", (await ReportAsync("exp-b")).GetProperty("unit").GetString());
    }

    [Fact]
    public async Task Sample_ratio_check_uses_the_configured_split_whatever_the_group_filter()
    {
        var srm = (await ReportAsync("exp-a")).GetProperty("sample_ratio");
        // 4 vs 2 against 50/50: expected 3 and 3, chi-square = 1/3 + 1/3, df 1, p = erfc(sqrt(1/3)) = 0.414216.
        Assert.Equal(2.0 / 3, srm.GetProperty("chi_square").GetDouble(), 1e-12);
        Assert.Equal(1, srm.GetProperty("degrees_of_freedom").GetInt32());
        Assert.Equal(0.41421617824252516, srm.GetProperty("p_value").GetDouble(), 1e-9);
        Assert.Equal(3, srm.GetProperty("expected").GetProperty("control").GetDouble(), Tolerance);
        Assert.Equal("user", srm.GetProperty("unit").GetString());
        Assert.False(srm.GetProperty("mismatch").GetBoolean());

        // A report of one group still checks the whole split, and still compares with the baseline.
        var filtered = Assert.Single((await GetJsonAsync("/analytics?experiment_id=exp-a&model_group=treatment")).GetProperty("experiments").EnumerateArray());
        Assert.Equal(["treatment"], filtered.GetProperty("groups").EnumerateArray().Select(g => g.GetProperty("model_group").GetString()));
        Assert.Equal(srm.GetRawText(), filtered.GetProperty("sample_ratio").GetRawText());
        Assert.Equal("control", Assert.Single(filtered.GetProperty("comparisons").EnumerateArray()).GetProperty("baseline").GetString());

        // exp-b has no configured split: no check.
        Assert.Equal(JsonValueKind.Null, (await ReportAsync("exp-b")).GetProperty("sample_ratio").ValueKind);
    }

    [Fact]
    public async Task A_baseline_that_names_no_group_is_a_400_problem()
    {
        using var response = await gateway.Client.GetAsync("/analytics?experiment_id=exp-a&baseline=nope");
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains("control, treatment", (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("detail").GetString());

        var chosen = await GetJsonAsync("/analytics?experiment_id=exp-a&baseline=treatment");
        Assert.Equal("treatment", Assert.Single(chosen.GetProperty("experiments").EnumerateArray()).GetProperty("baseline").GetString());
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
        // c2 answered in 2000 and 3000 ms: median 2500 (within the sketch's 1 %).
        Assert.Equal(2500, Group(window[0], "control").GetProperty("latency_ms").GetProperty("p50").GetDouble(), 2500 * 0.01);

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
    [InlineData("/analytics?unit=team")]
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

    /// <summary>Counts and means exactly; percentiles within the sketch's documented 1 %.</summary>
    private static void AssertDistribution(JsonElement distribution, long count, double mean, double p50, double p95)
    {
        Assert.Equal(count, distribution.GetProperty("count").GetInt64());
        Assert.Equal(mean, distribution.GetProperty("mean").GetDouble(), Tolerance);
        Assert.InRange(distribution.GetProperty("p50").GetDouble(), p50 * 0.99, p50 * 1.01);
        Assert.InRange(distribution.GetProperty("p95").GetDouble(), p95 * 0.99, p95 * 1.01);
    }
}
