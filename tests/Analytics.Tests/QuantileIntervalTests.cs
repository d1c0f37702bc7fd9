using SessionTracking.Metrics;
using SessionTracking.ReadModel;
using SessionTracking.TestSupport;

namespace SessionTracking.Analytics.Tests;

/// <summary>
/// The interval of quantile metrics (docs/custom-metrics.md, "Statistics"): the unit terms the aggregates keep, against a
/// direct computation from every unit's values after incremental row changes; and the coverage of the outer interval of
/// Deng, Knoblich and Lu (2018) on simulated clustered data, against the naive binomial interval that treats values as
/// independent (fixed seeds, so every run sees the same draws).
/// </summary>
[TestCategory("BVT")]
public sealed class QuantileIntervalTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private const string Metric = "score_p90";

    private static readonly MetricSet Set = MetricDefinitionTests.Validate(
        $"Metrics:{Metric}:Kind=quantile;Metrics:{Metric}:EventType=rating;Metrics:{Metric}:Field=data.score;Metrics:{Metric}:Quantile=0.9").Metrics!;

    private static readonly string Key = Set.KeyOf(Metric);

    [Fact]
    public void The_aggregated_unit_terms_equal_a_direct_computation_after_incremental_changes_and_removals()
    {
        var random = new Random(20260131);
        const int Sessions = 40, Users = 9;
        var values = new Dictionary<int, List<double>>();
        var rows = new Dictionary<int, CustomRow>();
        var userRows = new Dictionary<int, CustomRow>();
        var sessionAggregate = new MetricMoments();
        var userAggregate = new MetricMoments();
        var removals = 0;
        for (var step = 0; step < 600; step++)
        {
            var s = random.Next(Sessions);
            var user = s % Users;
            var before = rows.GetValueOrDefault(s);
            List<double>? next;
            if (before is null)
            {
                next = [.. Enumerable.Range(0, random.Next(0, 7)).Select(_ => Value(random))];
            }
            else if (random.NextDouble() < 0.15)
            {
                next = null;
                removals++;
            }
            else if (random.NextDouble() < 0.2)
            {
                next = [.. Enumerable.Range(0, random.Next(0, 5)).Select(_ => Value(random))];
            }
            else
            {
                next = [.. values[s], .. Enumerable.Range(0, random.Next(1, 4)).Select(_ => Value(random))];
            }

            var after = next is null ? null : Row(next);
            if (next is null)
            {
                values.Remove(s);
                rows.Remove(s);
            }
            else
            {
                values[s] = next;
                rows[s] = after!;
            }

            MetricAggregation.AddChange(Set, before, after, _ => sessionAggregate, withBins: true);

            // The user's row moves by the session's change (the adapters' flush); a user left without sessions leaves.
            var userBefore = userRows.GetValueOrDefault(user);
            var userAfter = rows.Keys.Any(k => k % Users == user) ? (userBefore ?? CustomRow.Empty).Plus(CustomRow.Change(before, after)) : null;
            MetricAggregation.AddChange(Set, userBefore, userAfter, _ => userAggregate, withBins: true);
            if (userAfter is null)
            {
                userRows.Remove(user);
            }
            else
            {
                userRows[user] = userAfter;
            }
        }

        Assert.True(removals > 20 && values.Count > 10, $"{removals} removals, {values.Count} sessions left");
        var sessionUnits = values.Values.ToList();
        var userUnits = values.GroupBy(v => v.Key % Users).Select(g => g.SelectMany(v => v.Value).ToList()).ToList();

        // A user's row holds the sum of its sessions' bins.
        foreach (var (user, row) in userRows)
        {
            var direct = values.Where(v => v.Key % Users == user).SelectMany(v => v.Value).GroupBy(QuantileSketch.BinOf).ToDictionary(g => g.Key, g => (long)g.Count());
            Assert.Equal(direct.OrderBy(b => b.Key), (row.Bins(Key) ?? new Dictionary<int, long>()).OrderBy(b => b.Key));
        }

        var thresholds = sessionUnits.SelectMany(v => v).Concat([-5, -0.05, 0, 0.05, 3.33, 50]).Distinct().ToList();
        Assert.True(thresholds.Count > 50);
        foreach (var (units, aggregate, name) in new[] { (sessionUnits, sessionAggregate, "sessions"), (userUnits, userAggregate, "users") })
        {
            foreach (var t in thresholds)
            {
                var bin = QuantileSketch.BinOf(t);
                var expected = Direct(units, bin);
                var actual = MetricAggregation.QuantileSums(aggregate, bin);
                Assert.True(expected == actual, $"{name} at {t}: expected {expected}, aggregated {actual}");
            }

            var sketch = MetricAggregation.ValueSketch(aggregate);
            Assert.Equal(units.Sum(u => u.Count), sketch.Count);
        }
    }

    [Theory]
    [InlineData(0.9)]
    [InlineData(0.5)]
    public void The_outer_interval_covers_the_population_quantile_at_95_percent_where_the_binomial_one_under_covers(double p)
    {
        var random = new Random(20180819);
        const int Runs = 2_000, Units = 200;
        const double UnitSd = 0.6, NoiseSd = 0.4, Mu = 1;

        // Values exp(μ + u_i + e_ij), u_i ~ N(0, 0.6²) per unit, e_ij ~ N(0, 0.4²), n_i uniform in 1..9 independent of
        // u_i: every value is log-normal(μ, 0.6² + 0.4²), so the population p-quantile is exp(μ + √0.52·z_p).
        var truth = Math.Exp(Mu + (Math.Sqrt((UnitSd * UnitSd) + (NoiseSd * NoiseSd)) * Statistics.NormalQuantile(p)));
        int outer = 0, naive = 0, falsePositives = 0, pairs = 0;
        var estimates = new List<double>();
        var variances = new List<double>();
        (double? Value, double? Variance)? previous = null;
        for (var run = 0; run < Runs; run++)
        {
            var aggregate = new MetricMoments();
            for (var unit = 0; unit < Units; unit++)
            {
                // What AddChange adds for a new unit (the first test checks that path), without building its row.
                var u = UnitSd * Normal(random);
                var unitValues = new QuantileSketch();
                for (var j = random.Next(1, 10); j > 0; j--)
                {
                    unitValues.Add(Math.Exp(Mu + u + (NoiseSd * Normal(random))));
                }

                aggregate.Add(MetricAggregation.Units, 1);
                MetricAggregation.AddQuantileUnit(aggregate, unitValues, +1);
            }

            var estimate = MetricAggregation.QuantileInterval(aggregate, p);
            Assert.True(estimate.Low <= estimate.Value && estimate.Value <= estimate.High, $"run {run}: {estimate}");
            estimates.Add(estimate.Value!.Value);
            variances.Add(estimate.Variance!.Value);
            if (estimate.Low <= truth && truth <= estimate.High)
            {
                outer++;
            }

            // Values as independent: F̂ ~ Binomial(N, p)/N, σ² = p(1 − p)/N, read from the same sketch.
            var sketch = MetricAggregation.ValueSketch(aggregate);
            var sd = Math.Sqrt(p * (1 - p) / sketch.Count);
            if (sketch.Quantile(p - (Statistics.Z95 * sd)) <= truth && truth <= sketch.Quantile(p + (Statistics.Z95 * sd)))
            {
                naive++;
            }

            // A/A: consecutive groups compared with the Welch test on (Q̂, ((high − low) / 2z)²).
            if (run % 2 == 1)
            {
                var difference = Statistics.Compare(previous!.Value, (estimate.Value, estimate.Variance));
                pairs++;
                falsePositives += difference.PValue < 0.05 ? 1 : 0;
            }

            previous = (estimate.Value, estimate.Variance);
        }

        var outerCoverage = (double)outer / Runs;
        var naiveCoverage = (double)naive / Runs;
        var falsePositiveRate = (double)falsePositives / pairs;
        var spread = Statistics.StandardDeviation(Runs, estimates.Sum(), estimates.Sum(e => e * e))!.Value;
        output.WriteLine($"p{p * 100} of log-normal values, {Units} units of 1–9 correlated values, {Runs} groups (true quantile {truth:G4}, mean estimate {estimates.Average():G4}): outer CI (delta method) covers {outerCoverage:P1}, binomial CI (values as independent) {naiveCoverage:P1}; standard deviation of the estimates {spread:G3}, estimated from the interval {Math.Sqrt(variances.Average()):G3}; A/A Welch false positives {falsePositiveRate:P1} of {pairs}");
        Assert.InRange(outerCoverage, 0.93, 0.97);
        Assert.True(naiveCoverage < 0.9, $"binomial coverage {naiveCoverage:P1}");
        Assert.InRange(falsePositiveRate, 0.02, 0.07);
    }

    [Fact]
    public void A_value_many_units_share_does_not_collapse_the_interval()
    {
        // Ratings 1–5 where about 10 % of the values are 5, all from the units that give only 5s: the p90 is 5, and every
        // unit has all its values ≤ 5, so σ at the bin of 5 alone is 0 and the interval would be [5, 5]. The bin below
        // (F̂(4) ≈ 0.9) gives σ, and the interval reaches down to 4.
        var random = new Random(5);
        var aggregate = new MetricMoments();
        for (var unit = 0; unit < 400; unit++)
        {
            var generous = random.NextDouble() < 0.1;
            var ratings = Enumerable.Range(0, random.Next(1, 6)).Select(_ => generous ? 5.0 : random.Next(1, 5)).ToList();
            MetricAggregation.AddChange(Set, null, Row(ratings), _ => aggregate, withBins: true);
        }

        var estimate = MetricAggregation.QuantileInterval(aggregate, 0.9);
        output.WriteLine($"F(4) = {Statistics.Ratio(MetricAggregation.QuantileSums(aggregate, QuantileSketch.BinOf(4))).Value:F3}: {estimate}");
        Assert.Equal(0, Statistics.Ratio(MetricAggregation.QuantileSums(aggregate, QuantileSketch.BinOf(5))).Variance);
        Assert.InRange(estimate.Low!.Value, 3.96, 4.04);
        Assert.InRange(estimate.High!.Value, 4.95, 5.05);
        Assert.True(estimate.Variance > 0);
    }

    private static RatioSums Direct(IReadOnlyList<List<double>> units, int bin)
    {
        double n = units.Count, a = 0, total = 0, aa = 0, nn = 0, an = 0;
        foreach (var unit in units)
        {
            double below = unit.Count(v => QuantileSketch.BinOf(v) <= bin), count = unit.Count;
            a += below;
            total += count;
            aa += below * below;
            nn += count * count;
            an += below * count;
        }

        return new RatioSums(n, a, total, aa, nn, an);
    }

    private static CustomRow Row(IEnumerable<double> values)
    {
        var row = new MetricValues(Set);
        foreach (var value in values)
        {
            row.Sketch(Metric).Add(value);
        }

        return CustomRow.Of(Set, row, null);
    }

    /// <summary>Ties, negatives and zero: one decimal in [−2, 8].</summary>
    private static double Value(Random random) => Math.Round((random.NextDouble() * 10) - 2, 1);

    private static double Normal(Random random) =>
        Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
}
