namespace SessionTracking.Metrics;

/// <summary>
/// One metric as configured under <c>Analytics:Metrics:&lt;name&gt;</c> (environment: <c>Analytics__Metrics__&lt;name&gt;__Kind</c>):
/// plain properties a ConfigurationBinder fills. Every optional setting is nullable so that the validator can refuse a
/// setting the metric's kind does not use instead of ignoring it. Bound with <see cref="Analytics.AnalyticsOptions"/>; silos turn
/// them into definitions with <c>MetricValidator</c> at start-up (docs/custom-metrics.md). Here, not with the grains, so
/// that a gateway in client mode can check the metric names its options refer to.
/// </summary>
public sealed class MetricOptions
{
    /// <summary>proportion, count, sum, mean, ratio, quantile, retention or funnel (case-insensitive).</summary>
    public string? Kind { get; set; }

    public string? EventType { get; set; }

    /// <summary>A condition on the event's data, e.g. <c>data.score &gt;= 4</c> (docs/custom-metrics.md, "Conditions").</summary>
    public string? Where { get; set; }

    /// <summary>The numeric field of sum, mean and quantile, e.g. <c>data.amount</c>.</summary>
    public string? Field { get; set; }

    /// <summary>sum and mean: per matching event instead of per unit.</summary>
    public bool? PerEvent { get; set; }

    public string? Numerator { get; set; }

    public string? Denominator { get; set; }

    /// <summary>quantile: the probability, strictly between 0 and 1 (0.95 for p95).</summary>
    public double? Quantile { get; set; }

    public int? FromDay { get; set; }

    public int? ToDay { get; set; }

    /// <summary>funnel: event types in order, each optionally <c>type where &lt;condition&gt;</c> (<c>Steps:0</c>, <c>Steps:1</c>…).</summary>
    public List<string> Steps { get; set; } = [];

    /// <summary>Conversion window in hours from the unit's first exposure.</summary>
    public double? WindowHours { get; set; }

    public double? CapValue { get; set; }

    public double? CapPercentile { get; set; }

    public bool? HigherIsBetter { get; set; }
}

/// <summary>A model's prices under <c>Analytics:Prices:&lt;key&gt;</c>; the key is the model's name unless <see cref="Model"/> says otherwise (a name with a colon cannot be a key).</summary>
public sealed class ModelPriceOptions
{
    public string? Model { get; set; }

    /// <summary>Price per million input tokens.</summary>
    public double? InputPerMillion { get; set; }

    /// <summary>Price per million output tokens.</summary>
    public double? OutputPerMillion { get; set; }
}
