using Microsoft.AspNetCore.Http.HttpResults;
using SessionTracking.Analytics;
using SessionTracking.Gateway.Http;
using SessionTracking.Gateway.Security;

namespace SessionTracking.Gateway.Analytics;

/// <summary>
/// Experiment analytics, computed by the store through <see cref="IAnalyticsGrain"/>. Operator data: every endpoint
/// needs the operator key when one is configured.
/// </summary>
internal static class AnalyticsEndpoints
{
    public static IEndpointRouteBuilder MapAnalyticsEndpoints(this IEndpointRouteBuilder endpoints)
    {
        var maxNameLength = endpoints.ServiceProvider.GetRequiredService<WireLimits>().MaxFieldLength;
        var group = endpoints.MapGroup("/analytics").RequireOperatorKey().WithTags("Analytics").WithFilterParameters(maxNameLength);
        group.MapGet("/", GetReportsAsync).WithName("GetExperimentReports").WithSummary("Experiment report")
            .WithDescription("Per experiment × model_group figures, comparisons with the baseline group and the sample-ratio-mismatch check.")
            .ProducesProblem(StatusCodes.Status400BadRequest);
        group.MapGet("/guide", GetGuideAveragesAsync).WithName("GetGuideAverages").WithSummary("The guide's two pipelines")
            .WithDescription("Average latency and session duration by model_group, in the guide's MongoDB output shape (`_id` = model_group).")
            .ProducesProblem(StatusCodes.Status400BadRequest);
        group.MapGet("/sessions", ListSessionsAsync).WithName("ListSessions").WithSummary("Recent sessions")
            .WithDescription("The newest sessions matching the filter, for the timeline links.")
            .WithQueryParameter(new QueryParameter("limit", "Sessions to list, newest first.", Microsoft.OpenApi.JsonSchemaType.Integer, "int32", 1, WireLimits.MaxSessionListLimit))
            .ProducesProblem(StatusCodes.Status400BadRequest);
        group.MapGet("/metrics", ListMetricsAsync).WithName("ListMetrics").WithSummary("Metrics")
            .WithDescription("Every metric the report knows: the built-in ones and the custom ones configured under `Analytics:Metrics` (kind, canonical definition, figures, units, and each custom metric's backfill state and progress), and the price table.");
        group.MapGet("/plan", PlanAsync).WithName("PlanSampleSize").WithSummary("Sample-size planning")
            .WithDescription("Units per group to detect an absolute change `mde` of a metric (two-sided test at `alpha`, `power`), from `baseline_rate` (two proportions), `baseline_sd` (two means) or the experiment's baseline group, and the days that takes at the experiment's traffic so far.")
            .ProducesProblem(StatusCodes.Status400BadRequest);
        return endpoints;
    }

    /// <summary>
    /// The smallest α a plan takes: z₁₋α/₂ needs 1 − α/2 &lt; 1 in doubles (α ≥ 2.2·10⁻¹⁶; 4.9·10⁻³²⁴ rounded to 1 and
    /// failed), and no experiment tests at a level below 10⁻¹⁰ (z = 6.5).
    /// </summary>
    public const double MinAlpha = 1e-10;

    /// <summary>
    /// Sample-size planning: the parameters here (each must be finite and in range; a problem names the one that is
    /// not), the arithmetic in the analytics grain, which refuses a result that does not fit a count.
    /// </summary>
    private static async Task<Results<Ok<Wire.SamplePlan>, ProblemHttpResult>> PlanAsync(
        HttpRequest request,
        IGrainFactory grains,
        Microsoft.Extensions.Options.IOptions<AnalyticsOptions> options,
        string metric,
        double mde,
        string? experiment_id = null,
        double power = 0.8,
        double? alpha = null,
        double? baseline_rate = null,
        double? baseline_sd = null,
        string? unit = null)
    {
        // The group's filter parameters are checked as on every analytics endpoint (experiment_id's length among them).
        if (!AnalyticsRequest.TryReadFilter(request, out _, out var filterError))
        {
            return Problems.BadRequest(filterError);
        }

        var level = alpha ?? options.Value.Alpha;
        string? problem = metric switch
        {
            _ when !AnalyticsOptions.ComparedMetrics.Contains(metric) && !options.Value.CustomFigures().Contains(metric) =>
                $"'metric' must be one of {string.Join(", ", AnalyticsOptions.ComparedMetrics.Concat(options.Value.CustomFigures()))}.",
            _ when !AnalyticsOptions.ComparedMetrics.Contains(metric) && experiment_id is null && baseline_rate is null && baseline_sd is null =>
                "A custom metric's plan needs 'experiment_id' (its baseline group), 'baseline_rate' or 'baseline_sd'.",
            _ when !(mde > 0 && double.IsFinite(mde)) => "'mde' (the absolute change to detect) must be a finite positive number.",
            _ when !(power > 0 && power < 1) => "'power' must lie strictly between 0 and 1.",
            _ when !(level >= MinAlpha && level < 0.5) => $"'alpha' must lie from {MinAlpha:G} up to (not including) 0.5.",
            _ when baseline_rate is { } r && !(r > 0 && r + mde < 1) => "'baseline_rate' and 'baseline_rate' + 'mde' must lie strictly between 0 and 1.",
            _ when baseline_sd is { } sd && !(sd > 0 && double.IsFinite(sd)) => "'baseline_sd' must be a finite positive number.",
            _ when unit is not (null or "session" or "user") => "'unit' must be 'session' or 'user'.",
            _ when experiment_id is null && baseline_rate is null && baseline_sd is null => "Give 'baseline_rate', 'baseline_sd' or an 'experiment_id' with data.",
            _ => null,
        };
        if (problem is not null)
        {
            return Problems.BadRequest(problem);
        }

        var plan = await grains.GetGrain<IAnalyticsGrain>(0).PlanAsync(new PlanRequest(
            experiment_id, metric, mde, power, level, baseline_rate, baseline_sd, unit switch { "session" => AnalysisUnit.Session, "user" => AnalysisUnit.User, _ => null }));
        return plan.Problem is { } refused ? Problems.BadRequest(refused) : TypedResults.Ok(Wire.SamplePlan.From(plan));
    }

    private static async Task<Ok<Wire.MetricsResponse>> ListMetricsAsync(IGrainFactory grains) =>
        TypedResults.Ok(Wire.MetricsResponse.From(await grains.GetGrain<IAnalyticsGrain>(0).ListMetricsAsync()));

    /// <summary>Per experiment × model_group figures, comparisons with the baseline group and the SRM check.</summary>
    private static async Task<Results<Ok<ReportsResponse>, ProblemHttpResult>> GetReportsAsync(HttpRequest request, IGrainFactory grains, string? baseline = null, string? unit = null)
    {
        if (!AnalyticsRequest.TryReadFilter(request, out var filter, out var error)
            || !AnalyticsRequest.TryReadName(request, "baseline", out baseline, out error))
        {
            return Problems.BadRequest(error);
        }

        AnalysisUnit? analysisUnit = unit switch
        {
            null => null,
            "session" => AnalysisUnit.Session,
            "user" => AnalysisUnit.User,
            _ => (AnalysisUnit)(-1),
        };
        if (analysisUnit is (AnalysisUnit)(-1))
        {
            return Problems.BadRequest("'unit' must be 'session' or 'user'.");
        }

        var result = await grains.GetGrain<IAnalyticsGrain>(0).GetReportsAsync(filter, baseline, analysisUnit);
        return result.Problem is { } problem
            ? Problems.BadRequest(problem)
            : TypedResults.Ok(new ReportsResponse(Describe(filter), [.. result.Experiments.Select(Wire.ExperimentReport.From)]));
    }

    /// <summary>The guide's two MongoDB pipelines, answered in their output shape (<c>_id</c> = model_group).</summary>
    private static async Task<Results<Ok<GuideResponse>, ProblemHttpResult>> GetGuideAveragesAsync(HttpRequest request, IGrainFactory grains)
    {
        if (!AnalyticsRequest.TryReadFilter(request, out var filter, out var error))
        {
            return Problems.BadRequest(error);
        }

        var averages = await grains.GetGrain<IAnalyticsGrain>(0).GetGuideAveragesAsync(filter);
        return TypedResults.Ok(new GuideResponse(
            averages.AverageLatency.Select(a => new GuideLatencyRow(a.ModelGroup, a.Average)).ToList(),
            averages.AverageDuration.Select(a => new GuideDurationRow(a.ModelGroup, a.Average)).ToList()));
    }

    private static async Task<Results<Ok<SessionsResponse>, ProblemHttpResult>> ListSessionsAsync(HttpRequest request, IGrainFactory grains)
    {
        if (!AnalyticsRequest.TryReadFilter(request, out var filter, out var error)
            || !AnalyticsRequest.TryReadLimit(request, fallback: WireLimits.DefaultSessionListLimit, max: WireLimits.MaxSessionListLimit, out var limit, out error))
        {
            return Problems.BadRequest(error);
        }

        var sessions = await grains.GetGrain<IAnalyticsGrain>(0).ListSessionsAsync(filter, limit);
        return TypedResults.Ok(new SessionsResponse(sessions.Select(s => new SessionRow(
            s.SessionId, s.UserId, s.ExperimentId, s.ModelGroup, Timestamps.Format(s.StartTime), Timestamps.Format(s.EndTime),
            s.EndTime is { } end ? (end - s.StartTime).TotalMilliseconds : null, s.EventCount)).ToList()));
    }

    private static FilterEcho Describe(AnalyticsFilter filter) =>
        new(filter.ExperimentId, filter.ModelGroup, Timestamps.Format(filter.From), Timestamps.Format(filter.To));
}

internal sealed record FilterEcho(string? ExperimentId, string? ModelGroup, string? From, string? To);

internal sealed record ReportsResponse(FilterEcho Filter, IReadOnlyList<Wire.ExperimentReport> Experiments);

internal sealed record GuideResponse(IReadOnlyList<GuideLatencyRow> AvgLatencyByModelGroup, IReadOnlyList<GuideDurationRow> AvgDurationByModelGroup);

internal sealed record GuideLatencyRow(
    [property: System.Text.Json.Serialization.JsonPropertyName("_id")] string Id,
    [property: System.Text.Json.Serialization.JsonPropertyName("avg_latency")] double? AvgLatency);

internal sealed record GuideDurationRow(
    [property: System.Text.Json.Serialization.JsonPropertyName("_id")] string Id,
    [property: System.Text.Json.Serialization.JsonPropertyName("avg_duration_ms")] double? AvgDurationMs);

internal sealed record SessionsResponse(IReadOnlyList<SessionRow> Sessions);

internal sealed record SessionRow(string SessionId, string UserId, string ExperimentId, string ModelGroup, string StartTime, string? EndTime, double? DurationMs, long EventCount);
