namespace SessionTracking.Analytics;

/// <summary>
/// Which sessions an analysis covers: one experiment (or all when null) and sessions whose <c>start_time</c> lies in
/// [<see cref="From"/>, <see cref="To"/>). Events count with the session they belong to, whatever their own time.
/// </summary>
[GenerateSerializer, Immutable, Alias("SessionTracking.Analytics.AnalyticsFilter")]
public sealed record AnalyticsFilter(
    [property: Id(0)] string? ExperimentId = null,
    [property: Id(1)] DateTimeOffset? From = null,
    [property: Id(2)] DateTimeOffset? To = null,
    [property: Id(3)] string? ModelGroup = null);

/// <summary>What each figure of a report counts as one independent observation: a session, or a user (all their sessions).</summary>
public enum AnalysisUnit
{
    Session,
    User,
}

/// <summary>
/// A metric's values: count, mean with its 95 % interval at the report's unit (delta method), standard deviation of the
/// values, and percentiles from the read model's sketch (relative error ≤ 1 %).
/// </summary>
[GenerateSerializer, Immutable, Alias("SessionTracking.Analytics.Distribution")]
public sealed record Distribution(
    [property: Id(0)] long Count,
    [property: Id(1)] double? Mean,
    [property: Id(2)] double? P50,
    [property: Id(3)] double? P95,
    [property: Id(4)] double? StandardDeviation = null,
    [property: Id(5)] double? MeanLow = null,
    [property: Id(6)] double? MeanHigh = null);

/// <summary>
/// A rate: successes ÷ trials summed over the units, with a 95 % interval from the delta method at the report's unit
/// (clipped to [0, 1]); null rate when there are no trials.
/// </summary>
[GenerateSerializer, Immutable, Alias("SessionTracking.Analytics.Proportion")]
public sealed record Proportion(
    [property: Id(0)] long Successes,
    [property: Id(1)] long Trials,
    [property: Id(2)] double? Rate,
    [property: Id(3)] double? Low,
    [property: Id(4)] double? High);

/// <summary>A ratio of sums (e.g. prompts per session) with its 95 % interval at the report's unit.</summary>
[GenerateSerializer, Immutable, Alias("SessionTracking.Analytics.Estimate")]
public sealed record Estimate(
    [property: Id(0)] double? Value,
    [property: Id(1)] double? Low,
    [property: Id(2)] double? High);

/// <summary>Feedback events by value. Rates are over every feedback event, <see cref="Other"/> values included.</summary>
[GenerateSerializer, Immutable, Alias("SessionTracking.Analytics.FeedbackSummary")]
public sealed record FeedbackSummary(
    [property: Id(0)] long Up,
    [property: Id(1)] long Down,
    [property: Id(2)] long Neutral,
    [property: Id(3)] Proportion UpRate,
    [property: Id(4)] Proportion DownRate,
    [property: Id(5)] Proportion NeutralRate,
    [property: Id(6)] long Other,
    [property: Id(7)] long Total);

/// <summary>Copies and selections: implicit feedback. Shares are of sessions; copies are per model response.</summary>
[GenerateSerializer, Immutable, Alias("SessionTracking.Analytics.ImplicitFeedback")]
public sealed record ImplicitFeedback(
    [property: Id(0)] long Copies,
    [property: Id(1)] long Selections,
    [property: Id(2)] Proportion SessionsWithCopy,
    [property: Id(3)] Proportion SessionsWithSelection,
    [property: Id(4)] Estimate CopiesPerResponse);

/// <summary>The figures of one experiment × model_group, computed with <see cref="Unit"/> as the independent unit.</summary>
[GenerateSerializer, Immutable, Alias("SessionTracking.Analytics.GroupReport")]
public sealed record GroupReport(
    [property: Id(0)] string ExperimentId,
    [property: Id(1)] string ModelGroup,
    [property: Id(2)] AnalysisUnit Unit,
    [property: Id(3)] long Units,
    [property: Id(4)] long Sessions,
    [property: Id(5)] long EndedSessions,
    [property: Id(6)] Distribution DurationMs,
    [property: Id(7)] Distribution LatencyMs,
    [property: Id(8)] Distribution TimeToFirstTokenMs,
    [property: Id(9)] long Prompts,
    [property: Id(10)] long Responses,
    [property: Id(11)] Estimate PromptsPerSession,
    [property: Id(12)] FeedbackSummary Feedback,
    [property: Id(13)] ImplicitFeedback Implicit,
    [property: Id(14)] long Errors,
    [property: Id(15)] Estimate ErrorsPerSession,
    [property: Id(16)] long Stopped,
    [property: Id(17)] Proportion StoppedRate,
    [property: Id(18)] Estimate TokensPerResponse,
    [property: Id(19)] long ExcludedValues = 0,
    [property: Id(20)] IReadOnlyList<CustomMetricValue>? CustomMetrics = null);

/// <summary>
/// treatment − baseline of one metric. Fixed horizon: a 95 % normal interval and two-sided p from the unpooled (Welch)
/// standard error sqrt(Var_b + Var_t), each variance by the delta method at the report's unit, with Holm and
/// Benjamini–Hochberg adjustments of that p over every comparison of the experiment's report. Sequential (always valid,
/// from the experiment's start): mSPRT p-value and (1 − α) confidence sequence, valid however often the report is read.
/// </summary>
[GenerateSerializer, Immutable, Alias("SessionTracking.Analytics.Difference")]
public sealed record Difference(
    [property: Id(0)] double? BaselineValue,
    [property: Id(1)] double? TreatmentValue,
    [property: Id(2)] double? Value,
    [property: Id(3)] double? Low,
    [property: Id(4)] double? High,
    [property: Id(5)] double? Z,
    [property: Id(6)] double? PValue,
    [property: Id(7)] double? HolmPValue = null,
    [property: Id(8)] double? BenjaminiHochbergPValue = null,
    [property: Id(9)] SequentialResult? Sequential = null);

/// <summary>An always-valid result: data from the experiment's start up to the report's end.</summary>
[GenerateSerializer, Immutable, Alias("SessionTracking.Analytics.SequentialResult")]
public sealed record SequentialResult(
    [property: Id(0)] double Value,
    [property: Id(1)] double PValue,
    [property: Id(2)] double Low,
    [property: Id(3)] double High);

/// <summary>What to do with a treatment, and why: ship, keep_baseline, inconclusive or guardrail_breached.</summary>
[GenerateSerializer, Immutable, Alias("SessionTracking.Analytics.Readout")]
public sealed record Readout(
    [property: Id(0)] string Decision,
    [property: Id(1)] string PrimaryMetric,
    [property: Id(2)] IReadOnlyList<string> Reasons,
    [property: Id(3)] IReadOnlyList<GuardrailResult> Guardrails);

/// <summary>
/// A guardrail: the relative change of <see cref="Metric"/> (treatment vs baseline) in its harmful direction against the
/// configured threshold; breached when the harm exceeds it and (for metrics with a test) the sequential p is below α.
/// </summary>
[GenerateSerializer, Immutable, Alias("SessionTracking.Analytics.GuardrailResult")]
public sealed record GuardrailResult(
    [property: Id(0)] string Name,
    [property: Id(1)] string Metric,
    [property: Id(2)] bool HigherIsWorse,
    [property: Id(3)] double Threshold,
    [property: Id(4)] double? BaselineValue,
    [property: Id(5)] double? TreatmentValue,
    [property: Id(6)] double? RelativeChange,
    [property: Id(7)] double? SequentialPValue,
    [property: Id(8)] string Status);

/// <summary>One model group compared with the experiment's baseline group.</summary>
[GenerateSerializer, Immutable, Alias("SessionTracking.Analytics.GroupComparison")]
public sealed record GroupComparison(
    [property: Id(0)] string Baseline,
    [property: Id(1)] string Treatment,
    [property: Id(2)] AnalysisUnit Unit,
    [property: Id(3)] Difference UpRate,
    [property: Id(4)] Difference LatencyMs,
    [property: Id(5)] Difference DurationMs,
    [property: Id(6)] Difference PromptsPerSession,
    [property: Id(7)] Difference ErrorsPerSession,
    [property: Id(8)] Difference? StoppedRate = null,
    [property: Id(9)] Readout? Readout = null,
    [property: Id(10)] IReadOnlyList<CustomComparison>? CustomMetrics = null);

/// <summary>
/// Sample-ratio-mismatch check over every group of the experiment (whatever the report's group filter): Pearson chi-square
/// of the units per group against the configured split.
/// </summary>
[GenerateSerializer, Immutable, Alias("SessionTracking.Analytics.SampleRatioCheck")]
public sealed record SampleRatioCheck(
    [property: Id(0)] Dictionary<string, double> IntendedSplit,
    [property: Id(1)] Dictionary<string, long> Observed,
    [property: Id(2)] Dictionary<string, double> Expected,
    [property: Id(3)] double ChiSquare,
    [property: Id(4)] int DegreesOfFreedom,
    [property: Id(5)] double PValue,
    [property: Id(6)] bool Mismatch,
    [property: Id(7)] AnalysisUnit Unit);

/// <summary>How the report's percentiles were computed.</summary>
[GenerateSerializer, Immutable, Alias("SessionTracking.Analytics.PercentileMethod")]
public sealed record PercentileMethod(
    [property: Id(0)] string Method,
    [property: Id(1)] double RelativeError);

[GenerateSerializer, Immutable, Alias("SessionTracking.Analytics.ExperimentReport")]
public sealed record ExperimentReport(
    [property: Id(0)] string ExperimentId,
    [property: Id(1)] AnalysisUnit Unit,
    [property: Id(2)] string Baseline,
    [property: Id(3)] IReadOnlyList<GroupReport> Groups,
    [property: Id(4)] IReadOnlyList<GroupComparison> Comparisons,
    [property: Id(5)] SampleRatioCheck? SampleRatio,
    [property: Id(6)] PercentileMethod Percentiles,
    [property: Id(7)] DateTimeOffset? Start = null,
    [property: Id(8)] double Alpha = 0.05);

/// <summary>The reports of a request, or why it cannot be answered (a baseline that names no group: 400).</summary>
[GenerateSerializer, Immutable, Alias("SessionTracking.Analytics.ReportsResult")]
public sealed record ReportsResult(
    [property: Id(0)] IReadOnlyList<ExperimentReport> Experiments,
    [property: Id(1)] string? Problem = null);

/// <summary>The guide's two MongoDB pipelines, by model_group over all experiments: same figures, same shape.</summary>
[GenerateSerializer, Immutable, Alias("SessionTracking.Analytics.GuideAverages")]
public sealed record GuideAverages(
    [property: Id(0)] IReadOnlyList<GroupAverage> AverageLatency,
    [property: Id(1)] IReadOnlyList<GroupAverage> AverageDuration);

[GenerateSerializer, Immutable, Alias("SessionTracking.Analytics.GroupAverage")]
public sealed record GroupAverage(
    [property: Id(0)] string ModelGroup,
    [property: Id(1)] double? Average);

/// <summary>A session as listed for the timeline links.</summary>
[GenerateSerializer, Immutable, Alias("SessionTracking.Analytics.SessionListItem")]
public sealed record SessionListItem(
    [property: Id(0)] string SessionId,
    [property: Id(1)] string UserId,
    [property: Id(2)] string ExperimentId,
    [property: Id(3)] string ModelGroup,
    [property: Id(4)] DateTimeOffset StartTime,
    [property: Id(5)] DateTimeOffset? EndTime,
    [property: Id(6)] long EventCount);

/// <summary>Rows removed by a privacy deletion of one user_id.</summary>
[GenerateSerializer, Immutable, Alias("SessionTracking.Analytics.UserDeletion")]
public sealed record UserDeletion(
    [property: Id(0)] string UserId,
    [property: Id(1)] long Sessions,
    [property: Id(2)] long SessionEvents,
    [property: Id(3)] long Queries,
    [property: Id(4)] long Events);

/// <summary>One exported session row (the guide's document without its events).</summary>
[GenerateSerializer, Immutable, Alias("SessionTracking.Analytics.ExportSession")]
public sealed record ExportSession(
    [property: Id(0)] SessionInfo Session,
    [property: Id(1)] long EventCount);

/// <summary>
/// One exported event with the session fields an analyst joins on. <paramref name="TimeMs"/> is the client's <c>t</c>,
/// <paramref name="CorrectedTimeMs"/> the event's time on the server's clock (<see cref="StoredEvent.EventTime"/>).
/// </summary>
[GenerateSerializer, Immutable, Alias("SessionTracking.Analytics.ExportEvent")]
public sealed record ExportEvent(
    [property: Id(0)] string SessionId,
    [property: Id(1)] string UserId,
    [property: Id(2)] string ExperimentId,
    [property: Id(3)] string ModelGroup,
    [property: Id(4)] long Seq,
    [property: Id(5)] long TimeMs,
    [property: Id(6)] string Type,
    [property: Id(7)] string DataJson,
    [property: Id(8)] string? ClientId,
    [property: Id(9)] long CorrectedTimeMs);

/// <summary>
/// A sample-size question: units per group to detect an absolute change <see cref="MinimumDetectableEffect"/> of
/// <see cref="Metric"/> with a two-sided test at <see cref="Alpha"/> and <see cref="Power"/>. The baseline is the given
/// rate (two proportions), the given per-unit standard deviation (two means), or else the experiment's own baseline group.
/// </summary>
[GenerateSerializer, Immutable, Alias("SessionTracking.Analytics.PlanRequest")]
public sealed record PlanRequest(
    [property: Id(0)] string? ExperimentId,
    [property: Id(1)] string Metric,
    [property: Id(2)] double MinimumDetectableEffect,
    [property: Id(3)] double Power,
    [property: Id(4)] double Alpha,
    [property: Id(5)] double? BaselineRate,
    [property: Id(6)] double? BaselineStandardDeviation,
    [property: Id(7)] AnalysisUnit? Unit);

/// <summary>The answer: units per group, and the days they take at the experiment's traffic so far (when known).</summary>
[GenerateSerializer, Immutable, Alias("SessionTracking.Analytics.SamplePlan")]
public sealed record SamplePlan(
    [property: Id(0)] string Metric,
    [property: Id(1)] string Method,
    [property: Id(2)] AnalysisUnit Unit,
    [property: Id(3)] double? BaselineValue,
    [property: Id(4)] double? StandardDeviation,
    [property: Id(5)] double MinimumDetectableEffect,
    [property: Id(6)] double Alpha,
    [property: Id(7)] double Power,
    [property: Id(8)] long? UnitsPerGroup,
    [property: Id(9)] double? UnitsPerDayPerGroup,
    [property: Id(10)] double? Days,
    [property: Id(11)] string? Problem = null);
