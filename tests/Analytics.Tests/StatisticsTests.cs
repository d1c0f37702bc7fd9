using SessionTracking.TestSupport;

namespace SessionTracking.Analytics.Tests;

/// <summary>The statistics against published values.</summary>
[TestCategory("BVT")]
public sealed class StatisticsTests
{
    /// <summary>Newcombe (1998), "Two-sided confidence intervals for the single proportion", Table I, method 3 (Wilson).</summary>
    [Theory]
    [InlineData(81, 263, 0.2553, 0.3662)]
    [InlineData(15, 148, 0.0624, 0.1605)]
    [InlineData(0, 20, 0.0000, 0.1611)]
    [InlineData(1, 29, 0.0061, 0.1718)]
    public void Wilson_interval_matches_Newcombe(long successes, long trials, double low, double high)
    {
        var interval = Statistics.Wilson(successes, trials);
        Assert.Equal(low, interval.Low!.Value, 4);
        Assert.Equal(high, interval.High!.Value, 4);
        Assert.Equal((double)successes / trials, interval.Rate!.Value, 12);
    }

    [Fact]
    public void Wilson_interval_of_nothing_is_null()
    {
        var interval = Statistics.Wilson(0, 0);
        Assert.Null(interval.Rate);
        Assert.Null(interval.Low);
    }

    /// <summary>Mendel's dihybrid cross (round-yellow 315, round-green 108, wrinkled-yellow 101, wrinkled-green 32) against 9:3:3:1: χ² = 0.470, p = 0.925.</summary>
    [Fact]
    public void Chi_square_of_Mendels_peas()
    {
        var (chi, df, p, expected) = Statistics.ChiSquareGoodnessOfFit([315, 108, 101, 32], [9, 3, 3, 1]);
        Assert.Equal(0.4700239808153477, chi, 12);
        Assert.Equal(3, df);
        Assert.Equal(0.925425895103616, p, 8);
        Assert.Equal(312.75, expected[0], 12);
    }

    /// <summary>Critical values of the χ² table at α = 0.05 and 0.001.</summary>
    [Theory]
    [InlineData(3.841458820694124, 1, 0.05)]
    [InlineData(5.991464547107979, 2, 0.05)]
    [InlineData(11.070497693516351, 5, 0.05)]
    [InlineData(10.827566170662733, 1, 0.001)]
    [InlineData(18.307038053275146, 10, 0.05)]
    public void Chi_square_survival_matches_the_table(double x, int df, double p) =>
        Assert.Equal(p, Statistics.ChiSquareSurvival(x, df), 9);

    /// <summary>50/200 vs 70/200: pooled 0.3, SE = sqrt(0.3 · 0.7 · 2/200) = 0.045826, z = 0.1 / SE = 2.182179, p = 0.029096.</summary>
    [Fact]
    public void Two_proportion_z_test()
    {
        var test = Statistics.TwoProportionZ(50, 200, 70, 200);
        Assert.Equal(0.1, test.Difference!.Value, 12);
        Assert.Equal(2.182178902359923, test.Z!.Value, 9);
        Assert.Equal(0.02909633174125228, test.PValue!.Value, 8);
    }

    [Fact]
    public void Two_proportion_z_test_without_variance_has_no_p_value()
    {
        var test = Statistics.TwoProportionZ(5, 5, 3, 3);
        Assert.Equal(0, test.Difference!.Value);
        Assert.Null(test.Z);
    }

    [Theory]
    [InlineData(1.959963984540054, 0.05)]
    [InlineData(2.5758293035489, 0.01)]
    [InlineData(0, 1.0)]
    public void Normal_two_sided_tail(double z, double p) =>
        Assert.Equal(p, Statistics.Erfc(z / Math.Sqrt(2)), 10);

    [Fact]
    public void Bootstrap_is_seeded_and_brackets_the_difference()
    {
        var random = new Random(7);
        var a = Enumerable.Range(0, 400).Select(_ => 1000 + random.NextDouble() * 200).ToArray();
        var b = Enumerable.Range(0, 400).Select(_ => 1050 + random.NextDouble() * 200).ToArray();

        var first = Statistics.BootstrapMeanDifference(a, b, 2000, seed: 42);
        var second = Statistics.BootstrapMeanDifference(a, b, 2000, seed: 42);
        Assert.Equal(first, second);
        Assert.InRange(first.Difference!.Value, first.Low!.Value, first.High!.Value);
        Assert.True(first.Low > 0, $"A 50 ms shift with SE ≈ 4 ms must exclude zero: [{first.Low}, {first.High}]");

        // The interval is about ±1.96 standard errors: SE of a difference of uniform(0, 200) means with n = 400 each
        // = sqrt(2 · 200² / 12 / 400) = 4.08; half-width ≈ 8.0.
        Assert.InRange((first.High!.Value - first.Low.Value) / 2, 6.5, 9.5);
    }

    [Fact]
    public void Percentile_interpolates_between_order_statistics()
    {
        double[] sorted = [1, 2, 3, 4];
        Assert.Equal(2.5, Statistics.Percentile(sorted, 0.5));
        Assert.Equal(3.85, Statistics.Percentile(sorted, 0.95), 12);
        Assert.Equal(1, Statistics.Percentile(sorted, 0));
    }
}
