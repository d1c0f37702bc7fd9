using System.Runtime.CompilerServices;
using SessionTracking.ReadModel;

namespace SessionTracking.Metrics;

/// <summary>
/// The sums over the units of a group for the delta method of a ratio R = Σ numerators ÷ Σ denominators: the number of
/// units, Σ numerator, Σ denominator, their squares and their cross product (docs/analytics.md, "Ratio metrics").
/// </summary>
public readonly record struct RatioSums(double Units, double Numerator, double Denominator, double NumeratorSquares, double DenominatorSquares, double Cross);

/// <summary>
/// What a unit (a session, or a user) contributes to each custom metric's aggregate (<see cref="MetricMoments"/>), and how
/// a report reads the sums back. Every scalar metric is a ratio of unit sums (<see cref="UnitMetrics"/>), so an aggregate
/// keeps the sums the delta method needs; a unit whose row changes from a to b contributes terms(b) − terms(a).
/// The one definition for every adapter: stores call <see cref="AddChange"/> inside their flush transaction and never
/// compute a metric themselves.
/// </summary>
public static class MetricAggregation
{
    /// <summary>Slots of every metric: units; the unit pair's sums (numerator, denominator, squares, cross product).</summary>
    public const long Units = 0, Numerator = 1, Denominator = 2, NumeratorSquares = 3, DenominatorSquares = 4, Cross = 5;

    /// <summary>Slots of the value-level counts (sum, mean, quantile; events also for count and proportion; cost).</summary>
    public const long Events = 6, Values = 7, Missing = 8, Ignored = 9, Excluded = 10, Responses = 11, Unpriced = 12;

    /// <summary>
    /// CUPED (users as units, metrics whose unit denominator is always 1): Σx, Σx², Σx·y of the covariate x (the same
    /// metric in the user's pre-period) and the unit's value y.
    /// </summary>
    public const long CovariateSum = 13, CovariateSquares = 14, CovariateCross = 15;

    /// <summary>Funnel step j (1-based): Σ reached_j at StepBase + 2(j − 1), Σ reached_j · reached_{j−1} at the next slot.</summary>
    public const long StepBase = 20;

    /// <summary>A metric capped at a percentile: per bin b of the uncapped unit value v, at CappedBinBase + 8b + k: k = 0 units, 1 Σv, 2 Σv², 3 Σd, 4 Σd², 5 Σv·d.</summary>
    public const long CappedBinBase = 1L << 40;

    /// <summary>A quantile metric: the group's values by sketch bin, at QuantileBinBase + bin (session units only).</summary>
    public const long QuantileBinBase = 2L << 40;

    private static readonly string[] CountColumns = ["events", "values", "missing", "ignored", "excluded"];
    private static readonly long[] CountSlots = [Events, Values, Missing, Ignored, Excluded];
    private static readonly ConditionalWeakTable<MetricSet, Dictionary<string, double>> Uncapped = [];

    /// <summary>
    /// Adds a unit's change from <paramref name="before"/> (null: a new unit) to <paramref name="after"/> (null: the unit
    /// is removed) to the aggregate of every metric of <paramref name="set"/>, by <see cref="MetricSet.KeyOf"/>. A
    /// metric whose key a row lacks is not folded in that row: it counts as absent on that side (a backfill adds the unit).
    /// </summary>
    /// <param name="withBins">Whether quantile values go in (session units: a user's row carries no bins).</param>
    public static void AddChange(MetricSet set, CustomRow? before, CustomRow? after, Func<string, MetricMoments> aggregateOf, bool withBins) =>
        AddChange(set, before, after, aggregateOf, withBins, covariate: null);

    /// <summary>
    /// <see cref="AddChange(MetricSet, CustomRow?, CustomRow?, Func{string, MetricMoments}, bool)"/> for a user with a CUPED
    /// covariate row (<paramref name="covariate"/>: the user's pre-period, folded like a unit's row; a metric it lacks
    /// counts x = 0, which leaves the adjusted difference unbiased).
    /// </summary>
    public static void AddChange(MetricSet set, CustomRow? before, CustomRow? after, Func<string, MetricMoments> aggregateOf, bool withBins, CustomRow? covariate)
    {
        var b = before is null || before.IsEmpty ? null : before.ToValues(set, out _);
        var a = after is null || after.IsEmpty ? null : after.ToValues(set, out _);
        var x = covariate?.ToValues(set, out _);
        foreach (var name in set.StoredMetrics)
        {
            var key = set.KeyOf(name);
            var hadBefore = b is not null && before!.Has(key);
            var hasAfter = a is not null && after!.Has(key);
            if (!hadBefore && !hasAfter)
            {
                continue;
            }

            var into = aggregateOf(set.KeyOf(name));
            var covariateValue = x is not null && covariate!.Has(set.KeyOf(name)) && HasCovariate(set, name) ? UnitTotal(set, name, x) : 0;
            if (hadBefore)
            {
                Contribute(set, name, b!, into, -1, withBins);
                AddCovariate(set, name, b!, covariateValue, into, -1, covariate is not null);
            }

            if (hasAfter)
            {
                Contribute(set, name, a!, into, +1, withBins);
                AddCovariate(set, name, a!, covariateValue, into, +1, covariate is not null);
            }
        }
    }

    /// <summary>
    /// Whether CUPED applies to <paramref name="metric"/>: a unit value over a denominator of 1 for every unit (proportion,
    /// count, a sum per unit, retention, and the cost per unit), not capped at a percentile (its cap is applied when the
    /// report reads, after the sums CUPED needs).
    /// </summary>
    public static bool HasCovariate(MetricSet set, string metric) =>
        metric == MetricSet.CostMetric
        || (set.ByName.TryGetValue(metric, out var d)
            && d.Cap?.Percentile is null
            && (d.Kind is MetricKind.Proportion or MetricKind.Count or MetricKind.Retention || (d.Kind == MetricKind.Sum && !d.PerEvent)));

    /// <summary>CUPED's sums of a metric with a covariate: units, Σy, Σx, Σy², Σx², Σxy (y the unit's value, x its covariate).</summary>
    public static Analytics.CovariateMoments CovariateSums(MetricMoments m) =>
        new(m[Units], m[Numerator], m[CovariateSum], m[NumeratorSquares], m[CovariateSquares], m[CovariateCross]);

    /// <summary>The sums of a scalar metric (every kind but funnel and quantile; the cost metric's cost per priced response).</summary>
    public static RatioSums Sums(MetricMoments m) =>
        new(m[Units], m[Numerator], m[Denominator], m[NumeratorSquares], m[DenominatorSquares], m[Cross]);

    /// <summary>Cost per unit: the cost metric's numerator over one per unit.</summary>
    public static RatioSums PerUnitSums(MetricMoments m) =>
        new(m[Units], m[Numerator], m[Units], m[NumeratorSquares], m[Units], m[Numerator]);

    /// <summary>Funnel step <paramref name="step"/> (1-based): reached over all units, or with <paramref name="ofPrevious"/> over the units that reached the step before.</summary>
    public static RatioSums StepSums(MetricMoments m, int step, bool ofPrevious)
    {
        var reached = m[StepBase + (2 * (step - 1))];
        if (!ofPrevious)
        {
            return new(m[Units], reached, m[Units], reached, m[Units], reached);
        }

        var previous = step == 1 ? m[Units] : m[StepBase + (2 * (step - 2))];
        return new(m[Units], reached, previous, reached, previous, m[StepBase + (2 * (step - 1)) + 1]);
    }

    /// <summary>
    /// A metric capped at <paramref name="cap"/> from its unit-value bins: units in bins below the cap's keep their sums;
    /// units in the cap's bin and above count as the cap (the units in the cap's own bin, within the sketch's 1 % of it,
    /// are the only approximation). The denominators are unchanged by a cap, and so are the units: every unit of the
    /// aggregate, as without a cap (a mean per unit's units without a value are in no bin but count, with the pair (0, 0)).
    /// </summary>
    public static RatioSums CappedSums(MetricMoments m, double cap)
    {
        var capBin = QuantileSketch.BinOf(cap);
        var capValue = QuantileSketch.ValueOf(capBin);
        double sv = 0, svv = 0, sd = 0, sdd = 0, svd = 0;
        foreach (var (bin, s) in CappedBins(m))
        {
            sd += s[3];
            sdd += s[4];
            if (QuantileSketch.ValueOf(bin) < capValue)
            {
                sv += s[1];
                svv += s[2];
                svd += s[5];
            }
            else
            {
                sv += cap * s[0];
                svv += cap * cap * s[0];
                svd += cap * s[3];
            }
        }

        return new(m[Units], sv, sd, svv, sdd, svd);
    }

    /// <summary>The sketch of the uncapped unit values of a metric capped at a percentile (its percentile is the cap).</summary>
    public static QuantileSketch UnitValueSketch(MetricMoments m)
    {
        var sketch = new QuantileSketch();
        foreach (var (bin, s) in CappedBins(m))
        {
            sketch.AddBin(bin, (long)Math.Round(s[0]));
        }

        return sketch;
    }

    /// <summary>The values of a quantile metric in the group.</summary>
    public static QuantileSketch ValueSketch(MetricMoments m)
    {
        var sketch = new QuantileSketch();
        foreach (var (slot, count) in m.Slots)
        {
            if (slot >= QuantileBinBase - int.MaxValue && slot <= QuantileBinBase + int.MaxValue)
            {
                sketch.AddBin((int)(slot - QuantileBinBase), (long)Math.Round(count));
            }
        }

        return sketch;
    }

    private static IEnumerable<(int Bin, double[] Sums)> CappedBins(MetricMoments m)
    {
        var bins = new SortedDictionary<int, double[]>();
        foreach (var (slot, value) in m.Slots)
        {
            var offset = slot - CappedBinBase;
            if (offset < (long)int.MinValue * 8 || offset > (long)int.MaxValue * 8)
            {
                continue;
            }

            var bin = (int)Math.Floor(offset / 8.0);
            var k = (int)(offset - (8L * bin));
            if (k < 6)
            {
                if (!bins.TryGetValue(bin, out var sums))
                {
                    bins[bin] = sums = new double[6];
                }

                sums[k] += value;
            }
        }

        return bins.Select(b => (b.Key, b.Value));
    }

    private static void Contribute(MetricSet set, string name, MetricValues row, MetricMoments into, double sign, bool withBins)
    {
        into.Add(Units, sign);
        if (name == MetricSet.CostMetric)
        {
            var cost = row[name, "cost"];
            var priced = row[name, "priced"];
            AddPair(into, sign, cost, priced);
            into.Add(Responses, sign * row[name, "responses"]);
            into.Add(Unpriced, sign * row[name, "unpriced"]);
            into.Add(Excluded, sign * row[name, "excluded"]);
            return;
        }

        var definition = set.ByName[name];
        var columns = set.ColumnsOf(name);
        for (var i = 0; i < CountColumns.Length; i++)
        {
            if (columns.Contains(CountColumns[i]))
            {
                into.Add(CountSlots[i], sign * row[name, CountColumns[i]]);
            }
        }

        switch (definition.Kind)
        {
            case MetricKind.Funnel:
                var previous = 1.0;
                for (var step = 1; step <= definition.Steps!.Count; step++)
                {
                    var reached = row[name, MetricSet.StepColumn(step)] > 0 ? 1.0 : 0.0;
                    into.Add(StepBase + (2 * (step - 1)), sign * reached);
                    into.Add(StepBase + (2 * (step - 1)) + 1, sign * reached * previous);
                    previous = reached;
                }

                return;
            case MetricKind.Quantile:
                if (withBins)
                {
                    foreach (var (bin, count) in row.Sketch(name).Bins)
                    {
                        into.Add(QuantileBinBase + bin, sign * count);
                    }
                }

                return;
        }

        var value = UnitMetrics.Value(row, name, Uncapped.GetValue(set, UncappedPercentiles));
        AddPair(into, sign, value.Numerator, value.Denominator);
        if (definition.Cap?.Percentile is not null && !(definition.Kind == MetricKind.Mean && value.Denominator == 0))
        {
            var (v, d) = (value.Numerator, value.Denominator);
            var at = CappedBinBase + (8L * QuantileSketch.BinOf(v));
            into.Add(at, sign);
            into.Add(at + 1, sign * v);
            into.Add(at + 2, sign * v * v);
            into.Add(at + 3, sign * d);
            into.Add(at + 4, sign * d * d);
            into.Add(at + 5, sign * v * d);
        }
    }

    private static void AddCovariate(MetricSet set, string name, MetricValues row, double x, MetricMoments into, double sign, bool withCovariate)
    {
        if (!withCovariate || !HasCovariate(set, name))
        {
            return;
        }

        var y = UnitTotal(set, name, row);
        into.Add(CovariateSum, sign * x);
        into.Add(CovariateSquares, sign * x * x);
        into.Add(CovariateCross, sign * x * y);
    }

    /// <summary>The unit's value y of a metric with a covariate (its numerator; the denominator is 1).</summary>
    private static double UnitTotal(MetricSet set, string name, MetricValues row) =>
        name == MetricSet.CostMetric ? row[name, "cost"] : UnitMetrics.Value(row, name).Numerator;

    private static void AddPair(MetricMoments into, double sign, double numerator, double denominator)
    {
        into.Add(Numerator, sign * numerator);
        into.Add(Denominator, sign * denominator);
        into.Add(NumeratorSquares, sign * numerator * numerator);
        into.Add(DenominatorSquares, sign * denominator * denominator);
        into.Add(Cross, sign * numerator * denominator);
    }

    /// <summary>Percentile caps resolved to +∞: the aggregates keep uncapped sums and bins, the report applies the cap.</summary>
    private static Dictionary<string, double> UncappedPercentiles(MetricSet set) =>
        set.Definitions.Where(d => d.Cap?.Percentile is not null).ToDictionary(d => d.Name, _ => double.PositiveInfinity, StringComparer.Ordinal);
}
