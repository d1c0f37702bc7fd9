using System.Runtime.CompilerServices;
using SessionTracking.Analytics;
using SessionTracking.ReadModel;

namespace SessionTracking.Metrics;

/// <summary>
/// The sums over the units of a group for the delta method of a ratio R = Σ numerators ÷ Σ denominators: the number of
/// units, Σ numerator, Σ denominator, their squares and their cross product (docs/analytics.md, "Ratio metrics").
/// </summary>
public readonly record struct RatioSums(double Units, double Numerator, double Denominator, double NumeratorSquares, double DenominatorSquares, double Cross);

/// <summary>
/// A quantile metric's estimate with its 95 % outer confidence interval and the variance a comparison uses
/// (<see cref="MetricAggregation.QuantileInterval"/>); nulls when it cannot be given.
/// </summary>
public readonly record struct QuantileEstimate(double? Value, double? Low, double? High, double? Variance);

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

    /// <summary>A quantile metric: the group's values by sketch bin, at QuantileBinBase + bin.</summary>
    public const long QuantileBinBase = 2L << 40;

    /// <summary>
    /// A quantile metric's unit terms for its interval (<see cref="QuantileSums"/>): with n_i the unit's values and
    /// a_i(b) those in its bins up to b, per bin b the jump of Σ a_i(·)² at b (a_i(b)² − a_i(b−)², b− the unit's bin
    /// before) at QuantileSquaresBase + b and the jump of Σ a_i(·)·n_i (n_i times the unit's values in b) at
    /// QuantileCrossBase + b; Σ n_i and Σ n_i² at <see cref="Denominator"/> and <see cref="DenominatorSquares"/>.
    /// </summary>
    public const long QuantileSquaresBase = 3L << 40, QuantileCrossBase = 4L << 40;

    private static readonly string[] CountColumns = ["events", "values", "missing", "ignored", "excluded"];
    private static readonly long[] CountSlots = [Events, Values, Missing, Ignored, Excluded];
    private static readonly ConditionalWeakTable<MetricSet, Dictionary<string, double>> Uncapped = [];

    /// <summary>
    /// Adds a unit's change from <paramref name="before"/> (null: a new unit) to <paramref name="after"/> (null: the unit
    /// is removed) to the aggregate of every metric of <paramref name="set"/>, by <see cref="MetricSet.KeyOf"/>. A
    /// metric whose key a row lacks is not folded in that row: it counts as absent on that side (a backfill adds the unit).
    /// </summary>
    /// <param name="withBins">
    /// Whether quantile metrics go in (their value bins and unit terms). Every adapter passes true for sessions and for
    /// users alike: a user's row carries the sum of its sessions' bins (<see cref="CustomRow.Plus"/>).
    /// </param>
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
            if ((!hadBefore && !hasAfter) || (hadBefore && hasAfter && Unmoved(set, name, before!, after!)))
            {
                continue; // nothing, or a unit's metric that did not move: its contributions (covariate's too) cancel
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

    /// <summary>Whether a unit's values of <paramref name="metric"/> are the same in both rows (a ratio's: its parts').</summary>
    private static bool Unmoved(MetricSet set, string metric, CustomRow before, CustomRow after) =>
        set.ByName.TryGetValue(metric, out var d) && d.Kind == MetricKind.Ratio
            ? Unmoved(set, d.Numerator!, before, after) && Unmoved(set, d.Denominator!, before, after)
            : before.SameSlice(after, set.KeyOf(metric));

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
            if (BinAt(slot, QuantileBinBase) is { } bin)
            {
                sketch.AddBin(bin, (long)Math.Round(count));
            }
        }

        return sketch;
    }

    /// <summary>
    /// What a unit with the values of <paramref name="values"/> adds (<paramref name="sign"/> +1) to a quantile metric's
    /// aggregate, or takes away (−1): its value bins, and the terms of <see cref="QuantileSums"/> at every threshold.
    /// Only the unit's own bins are touched, so the cost is that of its values' bins. The unit count is
    /// <see cref="Units"/>, added with every metric's.
    /// </summary>
    public static void AddQuantileUnit(MetricMoments into, QuantileSketch values, double sign)
    {
        var n = (double)values.Count;
        if (n == 0)
        {
            return;
        }

        into.Add(Denominator, sign * n);
        into.Add(DenominatorSquares, sign * n * n);
        var below = 0.0;
        foreach (var (bin, count) in values.Bins)
        {
            var upTo = below + count;
            into.Add(QuantileBinBase + bin, sign * count);
            into.Add(QuantileSquaresBase + bin, sign * ((upTo * upTo) - (below * below)));
            into.Add(QuantileCrossBase + bin, sign * n * count);
            below = upTo;
        }
    }

    /// <summary>
    /// The ratio F(t) = Σ a_i ÷ Σ n_i of a quantile metric's values in bins up to <paramref name="bin"/> (values ≤ t for
    /// t in that bin, within the sketch's 1 %), with the unit sums of its delta-method variance: a_i is unit i's values in
    /// those bins, n_i all its values. Exact for every bin: the unit terms are kept per bin (<see cref="AddQuantileUnit"/>).
    /// </summary>
    public static RatioSums QuantileSums(MetricMoments m, int bin)
    {
        double below = 0, squares = 0, cross = 0;
        foreach (var (slot, value) in m.Slots)
        {
            if (BinAt(slot, QuantileBinBase) is { } b && b <= bin)
            {
                below += value;
            }
            else if (BinAt(slot, QuantileSquaresBase) is { } s && s <= bin)
            {
                squares += value;
            }
            else if (BinAt(slot, QuantileCrossBase) is { } c && c <= bin)
            {
                cross += value;
            }
        }

        return new(m[Units], below, m[Denominator], squares, m[DenominatorSquares], cross);
    }

    /// <summary>
    /// A quantile metric's p-quantile with the outer confidence interval of Deng, Knoblich and Lu ("Applying the Delta
    /// Method in Metric Analytics: A Practical Guide with Novel Ideas", KDD 2018, the section on quantile metrics), valid when
    /// units contribute several, correlated values: with Q̂ the estimate, F̂ = Σ a_i ÷ Σ n_i (a_i: unit i's values ≤ Q̂)
    /// is a ratio of unit sums whose delta-method variance σ² (<see cref="Statistics.Ratio(RatioSums)"/>) gives
    /// the interval [Q(p − zσ), Q(p + zσ)] read from the same sketch. σ² is interpolated at F̂ = p between its values at
    /// the bin of Q̂ and at the occupied bin below it, so that a value many units share (a rating of 5) does not make it
    /// 0. The variance of Q̂ for a comparison is ((high − low) ÷ 2z)². Nulls as <see cref="Statistics.Ratio(RatioSums)"/>:
    /// no value, or no interval with fewer than two units.
    /// </summary>
    public static QuantileEstimate QuantileInterval(MetricMoments m, double p, double z = Statistics.Z95)
    {
        var sketch = ValueSketch(m);
        if (sketch.Quantile(p) is not { } q)
        {
            return default;
        }

        var at = QuantileSketch.BinOf(q);
        int? before = null;
        foreach (var (bin, _) in sketch.Bins)
        {
            if (bin < at)
            {
                before = bin;
            }
        }

        // σ² of F̂ at F = p: between the thresholds at the occupied bin below Q̂'s (F̂ below p) and at Q̂'s own (F̂ at or
        // above p), linearly in F̂. With continuous values the two are one bin apart; where many values share one (a
        // rating of 5), σ² at Q̂'s bin alone can be 0 (every unit has all its values ≤ 5) while F̂ below is close to p.
        var (upper, upperVariance) = Statistics.Ratio(QuantileSums(m, at));
        var variance = upperVariance;
        if (before is { } b && Statistics.Ratio(QuantileSums(m, b)) is { Value: { } lower, Variance: { } lowerVariance } && upper is { } f && upperVariance is { } v0 && f > lower)
        {
            var w = Math.Clamp((p - lower) / (f - lower), 0, 1);
            variance = lowerVariance + (w * (v0 - lowerVariance));
        }

        if (variance is not { } v)
        {
            return new QuantileEstimate(q, null, null, null);
        }

        var sd = Math.Sqrt(v);
        if (sketch.Quantile(Math.Max(0, p - (z * sd))) is not { } low || sketch.Quantile(Math.Min(1, p + (z * sd))) is not { } high)
        {
            return new QuantileEstimate(q, null, null, null);
        }

        var half = (high - low) / (2 * z);
        return double.IsFinite(half) ? new QuantileEstimate(q, low, high, half * half) : new QuantileEstimate(q, null, null, null);
    }

    private static int? BinAt(long slot, long slotBase)
    {
        var offset = slot - slotBase;
        return offset >= int.MinValue && offset <= int.MaxValue ? (int)offset : null;
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
                    AddQuantileUnit(into, row.Sketch(name), sign);
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
