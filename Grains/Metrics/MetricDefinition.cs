using System.Security.Cryptography;
using System.Text;

namespace SessionTracking.Metrics;

/// <summary>The kinds of custom metric (docs/custom-metrics.md gives each one's formula).</summary>
public enum MetricKind
{
    Proportion,
    Count,
    Sum,
    Mean,
    Ratio,
    Quantile,
    Retention,
    Funnel,
}

/// <summary>Events of one type, optionally only those whose data satisfies <see cref="Where"/>.</summary>
public sealed record EventMatch(string EventType, Condition? Where = null)
{
    public override string ToString() => Where is null ? EventType : $"{EventType} where {Where}";
}

/// <summary>Winsorizing of a unit's value from above: at <see cref="Value"/>, or at the <see cref="Percentile"/> of the units' values.</summary>
public sealed record Capping(double? Value, double? Percentile)
{
    public override string ToString() => Value is { } v ? $"cap {v:R}" : $"cap p{Percentile:R}";
}

/// <summary>
/// A validated custom metric. Only the parts its <see cref="Kind"/> uses are set (the validator refuses the others):
/// <see cref="Match"/> for proportion, count, sum, mean, quantile and optionally retention; <see cref="Field"/> for sum,
/// mean and quantile; <see cref="Numerator"/>/<see cref="Denominator"/> for ratio; <see cref="Steps"/> for funnel.
/// </summary>
public sealed record MetricDefinition(
    string Name,
    MetricKind Kind,
    EventMatch? Match = null,
    FieldPath? Field = null,
    bool PerEvent = false,
    string? Numerator = null,
    string? Denominator = null,
    double? Quantile = null,
    int? FromDay = null,
    int? ToDay = null,
    IReadOnlyList<EventMatch>? Steps = null,
    TimeSpan? Window = null,
    Capping? Cap = null,
    bool HigherIsBetter = true)
{
    /// <summary>
    /// Everything that decides the metric's stored values, as text: two definitions with the same text fold the same
    /// values, so stored values are keyed by <see cref="Hash"/> and a changed definition is backfilled (not
    /// <see cref="HigherIsBetter"/> or capping, which only the report applies).
    /// </summary>
    public string FoldText => string.Join(
        " | ",
        Kind.ToString().ToLowerInvariant(),
        Match?.ToString() ?? "",
        Field?.ToString() ?? "",
        PerEvent ? "per event" : "",
        Numerator ?? "",
        Denominator ?? "",
        Quantile?.ToString("R", System.Globalization.CultureInfo.InvariantCulture) ?? "",
        FromDay is { } from ? $"days {from}..{ToDay}" : "",
        Steps is null ? "" : string.Join(" -> ", Steps),
        Window is { } w ? $"window {w.TotalHours:R}h" : "");

    /// <summary>First 16 hex digits of SHA-256 of <see cref="FoldText"/>.</summary>
    public string Hash => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(FoldText)))[..16];

    public bool Equals(MetricDefinition? other) =>
        other is not null && Name == other.Name && FoldText == other.FoldText && Cap == other.Cap && HigherIsBetter == other.HigherIsBetter;

    public override int GetHashCode() => HashCode.Combine(Name, FoldText, Cap, HigherIsBetter);
}

/// <summary>Input and output price of a model, per million tokens (any currency, the same for every model).</summary>
public sealed record ModelPrice(double InputPerMillion, double OutputPerMillion)
{
    public double CostOf(double inputTokens, double outputTokens) =>
        ((inputTokens * InputPerMillion) + (outputTokens * OutputPerMillion)) / 1_000_000;
}
