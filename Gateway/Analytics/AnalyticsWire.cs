using System.Text.Json.Serialization;
using Grain = SessionTracking.Analytics;

namespace SessionTracking.Gateway.Analytics.Wire;

// The analytics answers as they go on the wire, separate from the analytics grain's records: a grain property can be
// renamed or added without changing the API. A new figure is one property here and one argument in its From().
// Field names are the ones the API has always answered (snake_case of these names).

/// <summary>Count, mean (with its 95 % interval and the standard deviation) and percentiles of one metric.</summary>
public sealed record Distribution(long Count, double? Mean, double? P50, double? P95, double? StandardDeviation, double? MeanLow, double? MeanHigh)
{
    public static Distribution From(Grain.Distribution d) => new(d.Count, d.Mean, d.P50, d.P95, d.StandardDeviation, d.MeanLow, d.MeanHigh);
}

/// <summary>A proportion with its Wilson 95 % interval; null rate when the denominator is zero.</summary>
public sealed record Proportion(long Successes, long Trials, double? Rate, double? Low, double? High)
{
    public static Proportion From(Grain.Proportion p) => new(p.Successes, p.Trials, p.Rate, p.Low, p.High);
}

/// <summary>A value with its 95 % interval.</summary>
public sealed record Estimate(double? Value, double? Low, double? High)
{
    public static Estimate From(Grain.Estimate e) => new(e.Value, e.Low, e.High);
}

public sealed record FeedbackSummary(long Up, long Down, long Neutral, Proportion UpRate, Proportion DownRate, Proportion NeutralRate, long Other, long Total)
{
    public static FeedbackSummary From(Grain.FeedbackSummary f) =>
        new(f.Up, f.Down, f.Neutral, Proportion.From(f.UpRate), Proportion.From(f.DownRate), Proportion.From(f.NeutralRate), f.Other, f.Total);
}

public sealed record ImplicitFeedback(long Copies, long Selections, Proportion SessionsWithCopy, Proportion SessionsWithSelection, Estimate CopiesPerResponse)
{
    public static ImplicitFeedback From(Grain.ImplicitFeedback i) =>
        new(i.Copies, i.Selections, Proportion.From(i.SessionsWithCopy), Proportion.From(i.SessionsWithSelection), Estimate.From(i.CopiesPerResponse));
}

/// <summary>
/// The figures of one experiment × model_group, per analysis unit (<c>session</c> or <c>user</c>). <c>excluded_values</c>:
/// numbers outside their bounds (docs/analytics.md, "Bounds"), stored but in no other figure.
/// </summary>
public sealed record GroupReport(
    string ExperimentId,
    string ModelGroup,
    string Unit,
    long Units,
    long Sessions,
    long EndedSessions,
    Distribution DurationMs,
    Distribution LatencyMs,
    Distribution TimeToFirstTokenMs,
    long Prompts,
    long Responses,
    Estimate PromptsPerSession,
    FeedbackSummary Feedback,
    ImplicitFeedback Implicit,
    long Errors,
    Estimate ErrorsPerSession,
    long Stopped,
    Proportion StoppedRate,
    Estimate TokensPerResponse,
    long ExcludedValues,
    IReadOnlyList<CustomMetricValue> CustomMetrics)
{
    public static GroupReport From(Grain.GroupReport g) => new(
        g.ExperimentId, g.ModelGroup, UnitName(g.Unit), g.Units, g.Sessions, g.EndedSessions,
        Distribution.From(g.DurationMs), Distribution.From(g.LatencyMs), Distribution.From(g.TimeToFirstTokenMs),
        g.Prompts, g.Responses, Estimate.From(g.PromptsPerSession), FeedbackSummary.From(g.Feedback), ImplicitFeedback.From(g.Implicit),
        g.Errors, Estimate.From(g.ErrorsPerSession), g.Stopped, Proportion.From(g.StoppedRate), Estimate.From(g.TokensPerResponse), g.ExcludedValues,
        [.. (g.CustomMetrics ?? []).Select(CustomMetricValue.From)]);

    /// <summary>The unit's name on the wire: <c>session</c> or <c>user</c>.</summary>
    public static string UnitName(Grain.AnalysisUnit unit) => System.Text.Json.JsonNamingPolicy.SnakeCaseLower.ConvertName(unit.ToString());
}

/// <summary>Treatment − baseline, with its interval and test (fixed horizon, adjusted p-values, and the sequential result).</summary>
public sealed record Difference(
    double? BaselineValue, double? TreatmentValue, double? Value, double? Low, double? High, double? Z, double? PValue,
    double? HolmPValue, double? BenjaminiHochbergPValue, SequentialResult? Sequential)
{
    public static Difference From(Grain.Difference d) => new(
        d.BaselineValue, d.TreatmentValue, d.Value, d.Low, d.High, d.Z, d.PValue, d.HolmPValue, d.BenjaminiHochbergPValue, SequentialResult.From(d.Sequential));

    public static Difference? FromOptional(Grain.Difference? d) => d is null ? null : From(d);
}

/// <summary>An always-valid result: data from the experiment's start up to the report's end.</summary>
public sealed record SequentialResult(double Value, double PValue, double Low, double High)
{
    public static SequentialResult? From(Grain.SequentialResult? s) => s is null ? null : new(s.Value, s.PValue, s.Low, s.High);
}

/// <summary>What to do with a treatment, and why.</summary>
public sealed record Readout(string Decision, string PrimaryMetric, IReadOnlyList<string> Reasons, IReadOnlyList<GuardrailResult> Guardrails)
{
    public static Readout? From(Grain.Readout? r) => r is null ? null : new(r.Decision, r.PrimaryMetric, r.Reasons, [.. r.Guardrails.Select(GuardrailResult.From)]);
}

public sealed record GuardrailResult(
    string Name, string Metric, bool HigherIsWorse, double Threshold, double? BaselineValue, double? TreatmentValue, double? RelativeChange, double? SequentialPValue, string Status)
{
    public static GuardrailResult From(Grain.GuardrailResult g) =>
        new(g.Name, g.Metric, g.HigherIsWorse, g.Threshold, g.BaselineValue, g.TreatmentValue, g.RelativeChange, g.SequentialPValue, g.Status);
}

public sealed record GroupComparison(
    string Baseline, string Treatment, string Unit, Difference UpRate, Difference LatencyMs, Difference DurationMs, Difference PromptsPerSession, Difference ErrorsPerSession,
    Difference? StoppedRate, Readout? Readout, IReadOnlyList<CustomComparison> CustomMetrics)
{
    public static GroupComparison From(Grain.GroupComparison c) => new(
        c.Baseline, c.Treatment, GroupReport.UnitName(c.Unit), Difference.From(c.UpRate), Difference.From(c.LatencyMs), Difference.From(c.DurationMs),
        Difference.From(c.PromptsPerSession), Difference.From(c.ErrorsPerSession), Difference.FromOptional(c.StoppedRate), Readout.From(c.Readout),
        [.. (c.CustomMetrics ?? []).Select(m => new CustomComparison(
            m.Name, m.HigherIsBetter, Difference.From(m.Difference),
            m.Cuped is { } cuped ? new CupedResult(Difference.From(cuped.Adjusted), cuped.Theta, cuped.VarianceReduction, cuped.PreDays) : null))]);
}

/// <summary>
/// One figure of a custom metric in a group (docs/custom-metrics.md): <c>state</c> is <c>complete</c>, <c>incomplete</c>
/// (backfill running: no value) or <c>unavailable</c> at this unit (<c>note</c> says why). <c>conversion</c>: a funnel
/// step's share of the units that reached the step before.
/// </summary>
public sealed record CustomMetricValue(
    string Name, string Metric, string Kind, string State, double? Value, double? Low, double? High, long Units,
    double? Numerator, double? Denominator, IReadOnlyDictionary<string, long> Counts, string? Note, Estimate? Conversion, double? Cap)
{
    public static CustomMetricValue From(Grain.CustomMetricValue v) => new(
        v.Name, v.Metric, v.Kind, v.State, v.Value, v.Low, v.High, v.Units, v.Numerator, v.Denominator, v.Counts, v.Note,
        v.Conversion is null ? null : Estimate.From(v.Conversion), v.Cap);
}

/// <summary>A custom figure of the treatment against the baseline group; <c>cuped</c>: its CUPED-adjusted difference (users as units).</summary>
public sealed record CustomComparison(string Name, bool HigherIsBetter, Difference Difference, CupedResult? Cuped);

/// <summary>CUPED: the adjusted difference (interval, test, sequential result), θ, the variance removed, the pre-period in days.</summary>
public sealed record CupedResult(Difference Adjusted, double Theta, double? VarianceReduction, double PreDays);

/// <summary>How far a custom metric's backfill is.</summary>
public sealed record MetricProgress(long SessionsDone, long SessionsTotal, DateTimeOffset? StartedAt, DateTimeOffset? CompletedAt);

/// <summary>One metric of GET /analytics/metrics.</summary>
public sealed record MetricInfo(
    string Name, string Kind, string Definition, string? Key, bool HigherIsBetter, string? Cap, IReadOnlyList<string> Figures,
    IReadOnlyList<string> Units, string State, MetricProgress? Progress)
{
    public static MetricInfo From(Grain.MetricDescription d) => new(
        d.Name, d.Kind, d.Definition, d.Key, d.HigherIsBetter, d.Cap, d.Figures, [.. d.Units.Select(GroupReport.UnitName)], d.State,
        d.Progress is { } p ? new MetricProgress(p.SessionsDone, p.SessionsTotal, p.StartedAt, p.CompletedAt) : null);
}

/// <summary>A model's prices per million tokens.</summary>
public sealed record ModelPrice(string Model, double InputPerMillion, double OutputPerMillion);

/// <summary>Answer of GET /analytics/metrics.</summary>
public sealed record MetricsResponse(IReadOnlyList<MetricInfo> Metrics, IReadOnlyList<ModelPrice> Prices)
{
    public static MetricsResponse From(Grain.MetricCatalogReport r) =>
        new([.. r.Metrics.Select(MetricInfo.From)], [.. r.Prices.Select(p => new ModelPrice(p.Model, p.InputPerMillion, p.OutputPerMillion))]);
}

/// <summary>Sample-ratio-mismatch check against the configured split.</summary>
public sealed record SampleRatioCheck(
    Dictionary<string, double> IntendedSplit, Dictionary<string, long> Observed, Dictionary<string, double> Expected,
    double ChiSquare, int DegreesOfFreedom, double PValue, bool Mismatch, string Unit)
{
    public static SampleRatioCheck? From(Grain.SampleRatioCheck? s) => s is null ? null : new(
        s.IntendedSplit, s.Observed, s.Expected, s.ChiSquare, s.DegreesOfFreedom, s.PValue, s.Mismatch, GroupReport.UnitName(s.Unit));
}

public sealed record PercentileMethod(string Method, double RelativeError)
{
    public static PercentileMethod From(Grain.PercentileMethod p) => new(p.Method, p.RelativeError);
}

public sealed record ExperimentReport(
    string ExperimentId, string Unit, string Baseline, IReadOnlyList<GroupReport> Groups, IReadOnlyList<GroupComparison> Comparisons,
    SampleRatioCheck? SampleRatio, PercentileMethod Percentiles, DateTimeOffset? Start, double Alpha)
{
    public static ExperimentReport From(Grain.ExperimentReport r) => new(
        r.ExperimentId, GroupReport.UnitName(r.Unit), r.Baseline, [.. r.Groups.Select(GroupReport.From)], [.. r.Comparisons.Select(GroupComparison.From)],
        SampleRatioCheck.From(r.SampleRatio), PercentileMethod.From(r.Percentiles), r.Start, r.Alpha);
}

/// <summary>Answer of GET /analytics/plan: units per group, and the days they take at the experiment's traffic so far.</summary>
public sealed record SamplePlan(
    string Metric, string Method, string Unit, double? BaselineValue, double? StandardDeviation, double MinimumDetectableEffect, double Alpha, double Power,
    long? UnitsPerGroup, double? UnitsPerDayPerGroup, double? Days, string? Problem)
{
    public static SamplePlan From(Grain.SamplePlan p) => new(
        p.Metric, p.Method, GroupReport.UnitName(p.Unit), p.BaselineValue, p.StandardDeviation, p.MinimumDetectableEffect, p.Alpha, p.Power,
        p.UnitsPerGroup, p.UnitsPerDayPerGroup, p.Days, p.Problem);
}

/// <summary>Rows removed by a privacy deletion of one user_id.</summary>
public sealed record UserDeletion(string UserId, long Sessions, long SessionEvents, long Queries, long Events)
{
    public static UserDeletion From(Grain.UserDeletion d) => new(d.UserId, d.Sessions, d.SessionEvents, d.Queries, d.Events);
}

/// <summary>The analytics answers, written by source generation (never by reflection over grain types).</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, NumberHandling = JsonNumberHandling.Strict)]
[JsonSerializable(typeof(ReportsResponse))]
[JsonSerializable(typeof(GuideResponse))]
[JsonSerializable(typeof(SessionsResponse))]
[JsonSerializable(typeof(AssignmentResponse))]
[JsonSerializable(typeof(UserDeletion))]
[JsonSerializable(typeof(SamplePlan))]
[JsonSerializable(typeof(MetricsResponse))]
internal sealed partial class AnalyticsJsonContext : JsonSerializerContext;
