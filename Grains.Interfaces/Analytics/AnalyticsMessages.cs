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

/// <summary>Count, mean and percentiles (linear interpolation between order statistics, as numpy's default) of one metric.</summary>
[GenerateSerializer, Immutable, Alias("SessionTracking.Analytics.Distribution")]
public sealed record Distribution(
    [property: Id(0)] long Count,
    [property: Id(1)] double? Mean,
    [property: Id(2)] double? P50,
    [property: Id(3)] double? P95);

/// <summary>A proportion with its Wilson 95 % score interval; null rate when the denominator is zero.</summary>
[GenerateSerializer, Immutable, Alias("SessionTracking.Analytics.Proportion")]
public sealed record Proportion(
    [property: Id(0)] long Successes,
    [property: Id(1)] long Trials,
    [property: Id(2)] double? Rate,
    [property: Id(3)] double? Low,
    [property: Id(4)] double? High);

[GenerateSerializer, Immutable, Alias("SessionTracking.Analytics.FeedbackSummary")]
public sealed record FeedbackSummary(
    [property: Id(0)] long Up,
    [property: Id(1)] long Down,
    [property: Id(2)] long Neutral,
    [property: Id(3)] Proportion UpRate,
    [property: Id(4)] Proportion DownRate,
    [property: Id(5)] Proportion NeutralRate);

/// <summary>Copies and selections: implicit feedback. Rates are per model response and per session.</summary>
[GenerateSerializer, Immutable, Alias("SessionTracking.Analytics.ImplicitFeedback")]
public sealed record ImplicitFeedback(
    [property: Id(0)] long Copies,
    [property: Id(1)] long Selections,
    [property: Id(2)] Proportion SessionsWithCopy,
    [property: Id(3)] Proportion SessionsWithSelection,
    [property: Id(4)] double? CopiesPerResponse);

/// <summary>The figures of one experiment × model_group.</summary>
[GenerateSerializer, Immutable, Alias("SessionTracking.Analytics.GroupReport")]
public sealed record GroupReport(
    [property: Id(0)] string ExperimentId,
    [property: Id(1)] string ModelGroup,
    [property: Id(2)] long Sessions,
    [property: Id(3)] long EndedSessions,
    [property: Id(4)] Distribution DurationMs,
    [property: Id(5)] Distribution LatencyMs,
    [property: Id(6)] Distribution TimeToFirstTokenMs,
    [property: Id(7)] long Prompts,
    [property: Id(8)] long Responses,
    [property: Id(9)] double? PromptsPerSession,
    [property: Id(10)] FeedbackSummary Feedback,
    [property: Id(11)] ImplicitFeedback Implicit);

/// <summary>Difference of two proportions (treatment − baseline) with a pooled two-proportion z-test.</summary>
[GenerateSerializer, Immutable, Alias("SessionTracking.Analytics.ProportionTest")]
public sealed record ProportionTest(
    [property: Id(0)] double? Difference,
    [property: Id(1)] double? Z,
    [property: Id(2)] double? PValue);

/// <summary>Difference of means (treatment − baseline) with a seeded percentile bootstrap 95 % interval.</summary>
[GenerateSerializer, Immutable, Alias("SessionTracking.Analytics.MeanDifference")]
public sealed record MeanDifference(
    [property: Id(0)] double? Difference,
    [property: Id(1)] double? Low,
    [property: Id(2)] double? High,
    [property: Id(3)] int Resamples,
    [property: Id(4)] int Seed);

/// <summary>One model group compared with the experiment's baseline group.</summary>
[GenerateSerializer, Immutable, Alias("SessionTracking.Analytics.GroupComparison")]
public sealed record GroupComparison(
    [property: Id(0)] string Baseline,
    [property: Id(1)] string Treatment,
    [property: Id(2)] ProportionTest UpRate,
    [property: Id(3)] MeanDifference LatencyMs,
    [property: Id(4)] MeanDifference DurationMs);

/// <summary>Sample-ratio-mismatch check: Pearson chi-square of sessions per group against the configured split.</summary>
[GenerateSerializer, Immutable, Alias("SessionTracking.Analytics.SampleRatioCheck")]
public sealed record SampleRatioCheck(
    [property: Id(0)] Dictionary<string, double> IntendedSplit,
    [property: Id(1)] Dictionary<string, long> Observed,
    [property: Id(2)] Dictionary<string, double> Expected,
    [property: Id(3)] double ChiSquare,
    [property: Id(4)] int DegreesOfFreedom,
    [property: Id(5)] double PValue,
    [property: Id(6)] bool Mismatch);

[GenerateSerializer, Immutable, Alias("SessionTracking.Analytics.ExperimentReport")]
public sealed record ExperimentReport(
    [property: Id(0)] string ExperimentId,
    [property: Id(1)] IReadOnlyList<GroupReport> Groups,
    [property: Id(2)] IReadOnlyList<GroupComparison> Comparisons,
    [property: Id(3)] SampleRatioCheck? SampleRatio);

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

/// <summary>One exported event with the session fields an analyst joins on.</summary>
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
    [property: Id(8)] string? ClientId);
