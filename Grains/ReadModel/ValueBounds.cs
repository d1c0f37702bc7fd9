namespace SessionTracking.ReadModel;

/// <summary>
/// The range a numeric field must lie in to count in the figures (docs/analytics.md, "Bounds"). Any JSON number is
/// accepted and stored as sent, so a client can send 1e308; folded into a sum of squares it would overflow to infinity
/// and break every report of its experiment. A value outside (or not finite) is left out of the figures and counted in
/// <see cref="MetricField.ExcludedValues"/>. The bounds are wide enough for any real answer and narrow enough that no
/// sum comes near overflow: the largest square, (8.64·10⁷)² ≈ 7.5·10¹⁵, summed over 10¹⁵ values is 7.5·10³⁰, and the
/// largest double is 1.8·10³⁰⁸. (Durations need no bound of their own: both ends come from the server's clock, never a
/// client's, and a DateTimeOffset difference is at most 3.2·10¹⁴ ms.)
/// </summary>
public static class ValueBounds
{
    /// <summary>24 hours in milliseconds: no model answer (or its first token) takes longer.</summary>
    public const double MaxLatencyMs = 86_400_000;

    /// <summary>10⁸ tokens: far beyond any model's context or output.</summary>
    public const double MaxTokens = 100_000_000;

    /// <summary>0 ≤ value ≤ max; false for NaN and infinities.</summary>
    public static bool Within(double value, double max) => value >= 0 && value <= max;
}
