using SessionTracking.Analytics;

namespace SessionTracking.Metrics;

/// <summary>
/// A unit's contribution to a group figure R = Σ numerators ÷ Σ denominators over the units (the form of every built-in
/// ratio, so the delta method applies unchanged). A unit with a zero denominator takes no part in R.
/// </summary>
public readonly record struct UnitValue(double Numerator, double Denominator);

/// <summary>
/// From a unit's row (a session's, or the sum of a user's sessions') to its value of each metric, capping included
/// (docs/custom-metrics.md, "Formulas"). Capping is the one step that is not a sum: it applies to the unit's total, after
/// the unit's sessions are added, so it belongs here and not in the fold.
/// </summary>
public static class UnitMetrics
{
    /// <param name="caps">
    /// The cap of each metric capped at a percentile, resolved over the units (<see cref="CapThreshold"/>); metrics capped
    /// at a value need none.
    /// </param>
    public static UnitValue Value(MetricValues unit, string metric, IReadOnlyDictionary<string, double>? caps = null)
    {
        var definition = unit.Metrics.ByName[metric];
        switch (definition.Kind)
        {
            case MetricKind.Count or MetricKind.Proportion or MetricKind.Sum:
                var total = Total(unit, definition, caps);
                return definition.Kind == MetricKind.Sum && definition.PerEvent
                    ? new UnitValue(total, unit[metric, "events"])
                    : new UnitValue(total, 1);
            case MetricKind.Mean when definition.PerEvent:
                return new UnitValue(unit[metric, "sum"], unit[metric, "values"]);
            case MetricKind.Mean:
                var values = unit[metric, "values"];
                return values > 0 ? new UnitValue(Capped(unit[metric, "sum"] / values, definition, caps), 1) : default;
            case MetricKind.Ratio:
                return new UnitValue(
                    Total(unit, unit.Metrics.ByName[definition.Numerator!], caps),
                    Total(unit, unit.Metrics.ByName[definition.Denominator!], caps));
            case MetricKind.Retention:
                return new UnitValue(unit[metric, "sessions"] > 0 ? 1 : 0, 1);
            default:
                throw new ArgumentException($"{metric} is a {definition.Kind} metric: use {nameof(FunnelStep)} or the group's sketch.", nameof(metric));
        }
    }

    /// <summary>
    /// Step <paramref name="step"/> (1-based) of a funnel: whether the unit reached it over all units (denominator 1) or,
    /// with <paramref name="ofPrevious"/>, over the units that reached the step before (step-to-step conversion).
    /// </summary>
    public static UnitValue FunnelStep(MetricValues unit, string funnel, int step, bool ofPrevious = false)
    {
        double Reached(int s) => s == 0 || unit[funnel, MetricSet.StepColumn(s)] > 0 ? 1 : 0;
        return new UnitValue(Reached(step), ofPrevious ? Reached(step - 1) : 1);
    }

    /// <summary>
    /// The value at which <paramref name="metric"/> is capped: its CapValue, or the CapPercentile of the units' uncapped
    /// values (linear interpolation at (n − 1)p, as numpy and the report's percentiles), computed here from every unit.
    /// The live report will read it from a sketch of the unit values instead (docs/custom-metrics.md, "Capping").
    /// Null when the metric is not capped, or no unit has a value.
    /// </summary>
    public static double? CapThreshold(MetricSet metrics, string metric, IEnumerable<MetricValues> units)
    {
        var definition = metrics.ByName[metric];
        if (definition.Cap is not { } cap)
        {
            return null;
        }

        if (cap.Value is { } value)
        {
            return value;
        }

        var uncapped = units
            .Select(u => Uncapped(u, definition))
            .OfType<double>()
            .Order()
            .ToList();
        return uncapped.Count == 0 ? null : Statistics.Percentile(uncapped, cap.Percentile!.Value);
    }

    private static double? Uncapped(MetricValues unit, MetricDefinition definition) => definition.Kind switch
    {
        MetricKind.Count => unit[definition.Name, "events"],
        MetricKind.Sum => unit[definition.Name, "sum"],
        _ => unit[definition.Name, "values"] > 0 ? unit[definition.Name, "sum"] / unit[definition.Name, "values"] : null,
    };

    /// <summary>A count, sum or proportion metric's unit total, capped.</summary>
    private static double Total(MetricValues unit, MetricDefinition definition, IReadOnlyDictionary<string, double>? caps) => definition.Kind switch
    {
        MetricKind.Proportion => unit[definition.Name, "events"] > 0 ? 1 : 0,
        MetricKind.Count => Capped(unit[definition.Name, "events"], definition, caps),
        _ => Capped(unit[definition.Name, "sum"], definition, caps),
    };

    private static double Capped(double value, MetricDefinition definition, IReadOnlyDictionary<string, double>? caps)
    {
        if (definition.Cap is not { } cap)
        {
            return value;
        }

        var threshold = cap.Value
            ?? (caps is not null && caps.TryGetValue(definition.Name, out var resolved)
                ? resolved
                : throw new InvalidOperationException($"{definition.Name} is capped at a percentile: pass its resolved cap."));
        return Math.Min(value, threshold);
    }
}
