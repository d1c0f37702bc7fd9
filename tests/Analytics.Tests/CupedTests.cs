using SessionTracking.TestSupport;

namespace SessionTracking.Analytics.Tests;

/// <summary>
/// CUPED on simulated experiments (fixed seeds, so every run sees the same draws): the variance reduction theory
/// predicts (1 − ρ²), an unbiased difference, and a false-positive rate at α in A/A tests, with and without a pre-period
/// for every unit, and compared with the estimator computed directly from the units.
/// </summary>
[TestCategory("BVT")]
public sealed class CupedTests(Xunit.Abstractions.ITestOutputHelper output)
{
    [Fact]
    public void A_pre_period_correlation_of_0_7_narrows_the_interval_by_more_than_a_quarter()
    {
        var random = new Random(20261207);
        var widths = new List<(double Unadjusted, double Adjusted)>();
        var reductions = new List<double>();
        for (var run = 0; run < 200; run++)
        {
            var comparison = Cuped.Compare(Simulate(random, 2_000, rho: 0.7, effect: 0), Simulate(random, 2_000, rho: 0.7, effect: 0.05))!;
            widths.Add((comparison.Unadjusted.High!.Value - comparison.Unadjusted.Low!.Value, comparison.Adjusted.High!.Value - comparison.Adjusted.Low!.Value));
            reductions.Add(comparison.VarianceReduction!.Value);
        }

        var narrowing = 1 - (widths.Average(w => w.Adjusted) / widths.Average(w => w.Unadjusted));
        output.WriteLine($"interval narrowed by {narrowing:P2} (theory 1 − √(1 − 0.49) = {1 - Math.Sqrt(1 - 0.49):P2}); variance reduced by {reductions.Average():P2} (theory 49 %)");
        Assert.True(narrowing >= 0.25, $"narrowed by {narrowing:P2}");
        Assert.InRange(narrowing, 0.27, 0.31);
        Assert.InRange(reductions.Average(), 0.46, 0.52);
    }

    [Fact]
    public void The_adjusted_difference_is_unbiased_and_the_A_A_false_positive_rate_is_alpha()
    {
        var random = new Random(7);
        const int Runs = 4_000;
        var adjustedPositives = 0;
        var unadjustedPositives = 0;
        var differences = new List<double>();
        for (var run = 0; run < Runs; run++)
        {
            var comparison = Cuped.Compare(Simulate(random, 500, rho: 0.7, effect: 0), Simulate(random, 500, rho: 0.7, effect: 0))!;
            adjustedPositives += comparison.Adjusted.PValue < 0.05 ? 1 : 0;
            unadjustedPositives += comparison.Unadjusted.PValue < 0.05 ? 1 : 0;
            differences.Add(comparison.Adjusted.Value!.Value);
        }

        var rate = (double)adjustedPositives / Runs;
        output.WriteLine($"A/A false positives at α = 0.05 over {Runs} runs: adjusted {rate:P2}, unadjusted {(double)unadjustedPositives / Runs:P2}; mean difference {differences.Average():G3}");
        Assert.InRange(rate, 0.04, 0.06);
        Assert.InRange(differences.Average(), -0.005, 0.005); // standard error of the mean over runs ≈ 0.0013
    }

    [Fact]
    public void Units_without_a_pre_period_leave_the_estimate_unbiased_with_a_smaller_reduction()
    {
        var random = new Random(11);
        var adjusted = new List<double>();
        var reductions = new List<double>();
        for (var run = 0; run < 300; run++)
        {
            // 40 % new users: no pre-period, covariate 0.
            var comparison = Cuped.Compare(Simulate(random, 1_000, 0.7, 0, newUsers: 0.4), Simulate(random, 1_000, 0.7, 0.1, newUsers: 0.4))!;
            adjusted.Add(comparison.Adjusted.Value!.Value);
            reductions.Add(comparison.VarianceReduction!.Value);
        }

        Assert.InRange(adjusted.Average(), 0.095, 0.105);
        Assert.InRange(reductions.Average(), 0.15, 0.40);
    }

    [Fact]
    public void The_estimate_equals_the_adjustment_computed_unit_by_unit()
    {
        var random = new Random(3);
        var baseline = Units(random, 300, 0.5, 0);
        var treatment = Units(random, 300, 0.5, 0.2);
        var comparison = Cuped.Compare(CovariateMoments.Of(baseline), CovariateMoments.Of(treatment))!;

        // θ from the pooled within-group covariances, then each unit's y − θ(x − x̄) and a Welch comparison of those.
        double Cov(IReadOnlyList<(double Y, double X)> g, Func<(double Y, double X), double> a, Func<(double Y, double X), double> b)
        {
            var ma = g.Average(a);
            var mb = g.Average(b);
            return g.Sum(u => (a(u) - ma) * (b(u) - mb));
        }

        var theta = (Cov(baseline, u => u.Y, u => u.X) + Cov(treatment, u => u.Y, u => u.X)) / (Cov(baseline, u => u.X, u => u.X) + Cov(treatment, u => u.X, u => u.X));
        var pooledX = baseline.Concat(treatment).Average(u => u.X);
        double[] Adjusted(IReadOnlyList<(double Y, double X)> g) => [.. g.Select(u => u.Y - (theta * (u.X - pooledX)))];
        double Variance(double[] v) => v.Sum(x => (x - v.Average()) * (x - v.Average())) / (v.Length - 1) / v.Length;
        var b = Adjusted(baseline);
        var t = Adjusted(treatment);

        Assert.Equal(theta, comparison.Theta, 10);
        Assert.Equal(t.Average() - b.Average(), comparison.Adjusted.Value!.Value, 10);
        Assert.Equal(Variance(b) + Variance(t), comparison.AdjustedVariance, 10);
        Assert.Equal(b.Average(), comparison.Adjusted.BaselineValue!.Value, 10);
    }

    [Fact]
    public void A_constant_or_missing_covariate_changes_nothing()
    {
        var random = new Random(5);
        var constant = Units(random, 100, 0, 0).Select(u => (u.Y, X: 3.0)).ToList();
        var comparison = Cuped.Compare(CovariateMoments.Of(constant), CovariateMoments.Of(constant.Select(u => (u.Y + 1, u.X))))!;

        Assert.Equal(0, comparison.Theta);
        Assert.Equal(comparison.Unadjusted.Value, comparison.Adjusted.Value);
        Assert.Equal(0, comparison.VarianceReduction!.Value, 12);
        Assert.Null(Cuped.Compare(CovariateMoments.Of([(1, 1)]), CovariateMoments.Of([(1, 1), (2, 2)])));
    }

    /// <summary>
    /// A group of <paramref name="n"/> units: x ~ N(0, 1) the pre-period, y = ρx + √(1 − ρ²)·ε + effect, so corr(y, x) = ρ;
    /// a share of new users has no pre-period (x = 0), their y drawn alike.
    /// </summary>
    private static CovariateMoments Simulate(Random random, int n, double rho, double effect, double newUsers = 0) =>
        CovariateMoments.Of(Units(random, n, rho, effect, newUsers));

    private static List<(double Y, double X)> Units(Random random, int n, double rho, double effect, double newUsers = 0)
    {
        var units = new List<(double Y, double X)>(n);
        for (var i = 0; i < n; i++)
        {
            var x = Normal(random);
            var y = (rho * x) + (Math.Sqrt(1 - (rho * rho)) * Normal(random)) + effect;
            units.Add((y, random.NextDouble() < newUsers ? 0 : x));
        }

        return units;
    }

    /// <summary>Box–Muller.</summary>
    private static double Normal(Random random) =>
        Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
}
