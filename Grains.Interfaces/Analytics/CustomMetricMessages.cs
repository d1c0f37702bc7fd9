namespace SessionTracking.Analytics;

/// <summary>
/// One figure of a custom metric in a group: a metric's value (a ratio of unit sums with its 95 % delta-method interval),
/// a funnel step (<c>&lt;funnel&gt;:step_&lt;j&gt;</c>, with <see cref="Conversion"/> from the step before), a quantile
/// (with its 95 % outer interval, docs/custom-metrics.md "Statistics"), or a cost figure. <see cref="State"/>:
/// <c>complete</c>; <c>incomplete</c> while its backfill runs (no value is given); <c>unavailable</c> for the report's
/// unit (<see cref="Note"/> says why).
/// </summary>
[GenerateSerializer, Immutable, Alias("SessionTracking.Analytics.CustomMetricValue")]
public sealed record CustomMetricValue(
    [property: Id(0)] string Name,
    [property: Id(1)] string Metric,
    [property: Id(2)] string Kind,
    [property: Id(3)] string State,
    [property: Id(4)] double? Value,
    [property: Id(5)] double? Low,
    [property: Id(6)] double? High,
    [property: Id(7)] long Units,
    [property: Id(8)] double? Numerator,
    [property: Id(9)] double? Denominator,
    [property: Id(10)] IReadOnlyDictionary<string, long> Counts,
    [property: Id(11)] string? Note = null,
    [property: Id(12)] Estimate? Conversion = null,
    [property: Id(13)] double? Cap = null);

/// <summary>
/// A custom figure compared with the baseline group (same statistics as the built-in metrics), and with users as units
/// its CUPED-adjusted difference when the metric has a covariate.
/// </summary>
[GenerateSerializer, Immutable, Alias("SessionTracking.Analytics.CustomComparison")]
public sealed record CustomComparison(
    [property: Id(0)] string Name,
    [property: Id(1)] bool HigherIsBetter,
    [property: Id(2)] Difference Difference,
    [property: Id(3)] CupedResult? Cuped = null);

/// <summary>
/// CUPED (Deng, Xu, Kohavi and Walker, WSDM 2013): the difference adjusted by the same metric in the users' pre-period,
/// with its interval, test and sequential result, θ, and the share of the difference's variance it removed.
/// </summary>
[GenerateSerializer, Immutable, Alias("SessionTracking.Analytics.CupedResult")]
public sealed record CupedResult(
    [property: Id(0)] Difference Adjusted,
    [property: Id(1)] double Theta,
    [property: Id(2)] double? VarianceReduction,
    [property: Id(3)] double PreDays);

/// <summary>How far a metric's backfill is (docs/custom-metrics.md, "Backfill").</summary>
[GenerateSerializer, Immutable, Alias("SessionTracking.Analytics.MetricBackfillState")]
public sealed record MetricBackfillState(
    [property: Id(0)] string Key,
    [property: Id(1)] string Name,
    [property: Id(2)] string State,
    [property: Id(3)] long SessionsDone,
    [property: Id(4)] long SessionsTotal,
    [property: Id(5)] DateTimeOffset? StartedAt,
    [property: Id(6)] DateTimeOffset? CompletedAt);

/// <summary>One metric as <c>GET /analytics/metrics</c> lists it.</summary>
[GenerateSerializer, Immutable, Alias("SessionTracking.Analytics.MetricDescription")]
public sealed record MetricDescription(
    [property: Id(0)] string Name,
    [property: Id(1)] string Kind,
    [property: Id(2)] string Definition,
    [property: Id(3)] string? Key,
    [property: Id(4)] bool HigherIsBetter,
    [property: Id(5)] string? Cap,
    [property: Id(6)] IReadOnlyList<string> Figures,
    [property: Id(7)] IReadOnlyList<AnalysisUnit> Units,
    [property: Id(8)] string State,
    [property: Id(9)] MetricBackfillState? Progress);

/// <summary>A model's prices, per million tokens.</summary>
[GenerateSerializer, Immutable, Alias("SessionTracking.Analytics.ModelPriceInfo")]
public sealed record ModelPriceInfo(
    [property: Id(0)] string Model,
    [property: Id(1)] double InputPerMillion,
    [property: Id(2)] double OutputPerMillion);

/// <summary>Every metric, built-in and custom, and the price table.</summary>
[GenerateSerializer, Immutable, Alias("SessionTracking.Analytics.MetricCatalogReport")]
public sealed record MetricCatalogReport(
    [property: Id(0)] IReadOnlyList<MetricDescription> Metrics,
    [property: Id(1)] IReadOnlyList<ModelPriceInfo> Prices);
