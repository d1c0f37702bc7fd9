using SessionTracking.Metrics;
using SessionTracking.Storage;

namespace SessionTracking.Analytics;

/// <summary>
/// The custom metrics of one experiment's report at one unit (docs/custom-metrics.md, "Formulas" and "Statistics"): each
/// metric's figures per group from the aggregates the store read, whether each can be given (complete, and meaningful at
/// this unit), and the caps at a percentile resolved over every group of the experiment, so both sides of a comparison
/// are capped alike.
/// </summary>
internal sealed class CustomMetricReport
{
    private readonly MetricCatalog _catalog;
    private readonly AnalysisUnit _unit;
    private readonly bool _usesCovariate;
    private readonly Dictionary<string, double?> _caps = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (string State, string? Note)> _availability = new(StringComparer.Ordinal);

    public CustomMetricReport(MetricCatalog catalog, IReadOnlyDictionary<string, MetricBackfillState> states, string experimentId, AnalysisUnit unit, IReadOnlyList<GroupFigures> groups)
    {
        _catalog = catalog;
        _unit = unit;
        _usesCovariate = catalog.UsesCovariate(experimentId);
        Figures = FiguresOf(catalog.Set);
        var configuredUnit = catalog.UnitOf(experimentId);
        foreach (var name in catalog.Set.StoredMetrics)
        {
            var key = catalog.Set.KeyOf(name);
            var definition = catalog.Set.ByName.GetValueOrDefault(name);
            _availability[name] =
                !states.TryGetValue(key, out var state) || state.State != "complete"
                    ? ("incomplete", $"backfill {state?.State ?? "pending"}: {state?.SessionsDone ?? 0} of {state?.SessionsTotal ?? 0} sessions; no figure until it completes")
                : definition?.Kind == MetricKind.Retention && (unit != AnalysisUnit.User || configuredUnit != AnalysisUnit.User)
                    ? ("unavailable", "retention counts days from a user's first exposure: it needs users as the experiment's unit and the report's")
                : definition?.Window is not null && unit != configuredUnit
                    ? ("unavailable", $"its window counts from the first exposure of the experiment's unit ({Lower(configuredUnit)}), not of the report's unit ({Lower(unit)})")
                : ("complete", null);
            if (definition?.Cap?.Percentile is { } p)
            {
                var sketch = new ReadModel.QuantileSketch();
                foreach (var g in groups)
                {
                    if (g.CustomUnits(unit).TryGetValue(key, out var moments))
                    {
                        sketch.Add(MetricAggregation.UnitValueSketch(moments));
                    }
                }

                _caps[name] = sketch.Quantile(p);
            }
        }
    }

    /// <summary>Every figure of the custom metrics, in definition order (then the cost figures).</summary>
    public IReadOnlyList<CustomFigure> Figures { get; }

    public CustomFigure? Figure(string name) => Figures.FirstOrDefault(f => f.Name == name);

    /// <summary>The figures of one group.</summary>
    public IReadOnlyList<CustomMetricValue> Values(GroupFigures group) => [.. Figures.Select(f => Value(f, group))];

    /// <summary>
    /// A figure's value, its variance and the units behind it, as comparisons, guardrails, the readout and the planner use
    /// them: a ratio's delta-method variance, or a quantile's variance from its outer interval
    /// (<see cref="MetricAggregation.QuantileInterval"/>); null when the figure cannot be given here.
    /// </summary>
    public (double? Value, double? Variance, double Units)? Ratio(CustomFigure figure, GroupFigures group)
    {
        if (_availability[figure.Metric].State != "complete")
        {
            return null;
        }

        if (figure.Quantile is { } q)
        {
            var moments = Moments(figure, group);
            var estimate = MetricAggregation.QuantileInterval(moments, q);
            return (estimate.Value, estimate.Variance, moments[MetricAggregation.Units]);
        }

        if (Sums(figure, group) is not { } sums)
        {
            return null;
        }

        var (value, variance) = Statistics.Ratio(sums);
        return (value, variance, sums.Units);
    }

    /// <summary>
    /// CUPED's sums of a figure in the group: users as the report's and the experiment's unit, a metric with a covariate
    /// (<see cref="MetricAggregation.HasCovariate"/>; of the cost metric, cost per unit), complete; else null.
    /// </summary>
    public CovariateMoments? Covariate(CustomFigure figure, GroupFigures group) =>
        _unit == AnalysisUnit.User && _usesCovariate && figure.Quantile is null && figure.Step is null && figure.Name != "cost_per_response"
        && MetricAggregation.HasCovariate(_catalog.Set, figure.Metric) && !_caps.ContainsKey(figure.Metric)
        && _availability[figure.Metric].State == "complete"
            ? MetricAggregation.CovariateSums(Moments(figure, group))
            : null;

    /// <summary>The pre-period of the covariate, in days.</summary>
    public double CupedPreDays => _catalog.CupedPrePeriod.TotalDays;

    private CustomMetricValue Value(CustomFigure figure, GroupFigures group)
    {
        var (state, note) = _availability[figure.Metric];
        var moments = Moments(figure, group);
        var counts = Counts(figure, moments);
        var cap = _caps.GetValueOrDefault(figure.Metric);
        if (state != "complete")
        {
            return new CustomMetricValue(figure.Name, figure.Metric, figure.Kind, state, null, null, null, 0, null, null, counts, note);
        }

        if (figure.Quantile is { } q)
        {
            var quantile = MetricAggregation.QuantileInterval(moments, q);
            return new CustomMetricValue(
                figure.Name, figure.Metric, figure.Kind, state, quantile.Value, quantile.Low, quantile.High, (long)moments[MetricAggregation.Units], null, null, counts,
                $"p{q * 100:0.##} of the group's values (ddsketch, relative error {ReadModel.QuantileSketch.RelativeAccuracy:P0}); 95 % outer CI, delta method (Deng, Knoblich and Lu 2018)");
        }

        var sums = Sums(figure, group)!.Value;
        var estimate = Statistics.Interval(Statistics.Ratio(sums));
        if (figure.IsShare)
        {
            estimate = Clip(estimate);
        }

        var conversion = figure.Step is { } step ? Clip(Statistics.Interval(Statistics.Ratio(MetricAggregation.StepSums(moments, step, ofPrevious: true)))) : null;
        return new CustomMetricValue(
            figure.Name, figure.Metric, figure.Kind, state, estimate.Value, estimate.Low, estimate.High, (long)sums.Units, sums.Numerator, sums.Denominator, counts,
            cap is { } c ? $"capped at {c:G6} (p{_catalog.Set.ByName[figure.Metric].Cap!.Percentile * 100:0.##} of the units' values)" : null,
            conversion,
            cap);
    }

    private RatioSums? Sums(CustomFigure figure, GroupFigures group)
    {
        var moments = Moments(figure, group);
        if (figure.Quantile is not null)
        {
            return null;
        }

        if (figure.Step is { } step)
        {
            return MetricAggregation.StepSums(moments, step, ofPrevious: false);
        }

        if (figure.Name == "cost_per_unit")
        {
            return MetricAggregation.PerUnitSums(moments);
        }

        return _caps.TryGetValue(figure.Metric, out var cap) && cap is { } c ? MetricAggregation.CappedSums(moments, c) : MetricAggregation.Sums(moments);
    }

    private MetricMoments Moments(CustomFigure figure, GroupFigures group) =>
        group.CustomUnits(_unit).GetValueOrDefault(_catalog.Set.KeyOf(figure.Metric)) ?? new MetricMoments();

    private static Dictionary<string, long> Counts(CustomFigure figure, MetricMoments m)
    {
        var counts = new Dictionary<string, long>(StringComparer.Ordinal);
        void Put(string name, long slot) => counts[name] = (long)Math.Round(m[slot]);
        switch (figure.Kind)
        {
            case "count" or "proportion":
                Put("events", MetricAggregation.Events);
                break;
            case "sum" or "mean" or "quantile":
                Put("events", MetricAggregation.Events);
                Put("values", MetricAggregation.Values);
                Put("missing", MetricAggregation.Missing);
                Put("ignored", MetricAggregation.Ignored);
                Put("excluded", MetricAggregation.Excluded);
                break;
            case "cost":
                Put("responses", MetricAggregation.Responses);
                Put("priced", MetricAggregation.Denominator);
                Put("unpriced", MetricAggregation.Unpriced);
                Put("excluded", MetricAggregation.Excluded);
                break;
        }

        return counts;
    }

    /// <summary>The figures of a metric set: one per metric, one per funnel step, two for the price table.</summary>
    public static IReadOnlyList<CustomFigure> FiguresOf(MetricSet set)
    {
        var figures = new List<CustomFigure>();
        foreach (var d in set.Definitions)
        {
            var kind = Lower(d.Kind);
            switch (d.Kind)
            {
                case MetricKind.Funnel:
                    for (var step = 1; step <= d.Steps!.Count; step++)
                    {
                        figures.Add(new CustomFigure($"{d.Name}:step_{step}", d.Name, kind, d.HigherIsBetter, IsShare: true, Step: step));
                    }

                    break;
                case MetricKind.Quantile:
                    figures.Add(new CustomFigure(d.Name, d.Name, kind, d.HigherIsBetter, IsShare: false, Quantile: d.Quantile));
                    break;
                default:
                    figures.Add(new CustomFigure(d.Name, d.Name, kind, d.HigherIsBetter, IsShare: d.Kind is MetricKind.Proportion or MetricKind.Retention));
                    break;
            }
        }

        if (set.Prices.Count > 0)
        {
            foreach (var name in AnalyticsOptions.CostFigures)
            {
                figures.Add(new CustomFigure(name, MetricSet.CostMetric, "cost", HigherIsBetter: false, IsShare: false));
            }
        }

        return figures;
    }

    private static Estimate Clip(Estimate e) => new(e.Value, e.Low is { } low ? Math.Max(0, low) : null, e.High is { } high ? Math.Min(1, high) : null);

    private static string Lower<T>(T value) where T : Enum => value.ToString().ToLowerInvariant();
}

/// <summary>
/// One figure of a custom metric: <see cref="Metric"/> is the metric it belongs to (a funnel's name for its steps, "cost"
/// for the cost figures); <see cref="Step"/> for a funnel step; <see cref="Quantile"/> for a quantile.
/// </summary>
internal sealed record CustomFigure(string Name, string Metric, string Kind, bool HigherIsBetter, bool IsShare, int? Step = null, double? Quantile = null);
