using SessionTracking.ReadModel;
using SessionTracking.TestSupport;

namespace SessionTracking.Analytics.Tests;

/// <summary>The statistics against published values.</summary>
[TestCategory("BVT")]
public sealed class StatisticsTests
{
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

    [Theory]
    [InlineData(1.959963984540054, 0.05)]
    [InlineData(2.5758293035489, 0.01)]
    [InlineData(0, 1.0)]
    public void Normal_two_sided_tail(double z, double p) =>
        Assert.Equal(p, Statistics.Erfc(z / Math.Sqrt(2)), 10);

    /// <summary>
    /// The mean per unit is the ratio with x = 1: the delta method reduces to the textbook s²/n. Values 2, 4, 4, 4, 5, 5, 7,
    /// 9 (the standard-deviation example of many textbooks): mean 5, sample variance 32/7, so Var(mean) = 32/56.
    /// </summary>
    [Fact]
    public void Delta_method_of_a_mean_is_the_squared_standard_error()
    {
        var units = Units([2, 4, 4, 4, 5, 5, 7, 9], x => [1, x]);
        var (value, variance) = Statistics.Ratio(units, MetricField.Prompts, MetricField.Sessions);
        Assert.Equal(5, value!.Value, 12);
        Assert.Equal(32.0 / 56, variance!.Value, 12);
    }

    /// <summary>
    /// A ratio of sums against an independent two-pass computation of Deng et al. (2018), eq. 4, and against the variance of
    /// the ratio over 4,000 simulated experiments of 500 units (the delta method is a large-sample approximation: within 10 %).
    /// </summary>
    [Fact]
    public void Delta_method_of_a_ratio_matches_a_two_pass_computation_and_a_simulation()
    {
        var random = new Random(11);
        (double X, double Y)[] Draw(int n) => [.. Enumerable.Range(0, n).Select(_ =>
        {
            var x = random.Next(0, 6);
            var y = Enumerable.Range(0, x).Count(_ => random.NextDouble() < 0.3 + (0.1 * x));
            return ((double)x, (double)y);
        })];

        var sample = Draw(500);
        var (value, variance) = Statistics.Ratio(Units(sample, u => [1, u.X, u.Y]), MetricField.FeedbackUp, MetricField.Feedback);

        // Two-pass: centred sums.
        var mx = sample.Average(u => u.X);
        var my = sample.Average(u => u.Y);
        var r = my / mx;
        var sxx = sample.Sum(u => (u.X - mx) * (u.X - mx)) / (sample.Length - 1);
        var syy = sample.Sum(u => (u.Y - my) * (u.Y - my)) / (sample.Length - 1);
        var sxy = sample.Sum(u => (u.X - mx) * (u.Y - my)) / (sample.Length - 1);
        Assert.Equal(r, value!.Value, 12);
        Assert.Equal((syy - (2 * r * sxy) + (r * r * sxx)) / (sample.Length * mx * mx), variance!.Value, 12);

        var ratios = Enumerable.Range(0, 4000).Select(_ => Draw(500)).Select(d => d.Sum(u => u.Y) / d.Sum(u => u.X)).ToArray();
        var mean = ratios.Average();
        var simulated = ratios.Sum(v => (v - mean) * (v - mean)) / (ratios.Length - 1);
        Assert.InRange(variance.Value / simulated, 0.9, 1.1);
    }

    [Fact]
    public void Welch_difference_adds_the_variances()
    {
        var difference = Statistics.Compare((10.0, 4.0), (13.0, 5.0));
        Assert.Equal(3, difference.Value!.Value, 12);
        Assert.Equal(3 - (Statistics.Z95 * 3), difference.Low!.Value, 12);
        Assert.Equal(1, difference.Z!.Value, 12);
        Assert.Equal(0.31731050786291415, difference.PValue!.Value, 10); // two-sided normal tail at 1
        Assert.Null(Statistics.Compare((1.0, 0.0), (1.0, 0.0)).Z);
        Assert.Null(Statistics.Compare((null, null), (1.0, 0.1)).Value);
    }

    /// <summary>
    /// The sketch's percentiles are within 1 % (relative) of numpy's exact linear-interpolation percentiles, whatever the
    /// distribution, and sketches merge: a sketch of two halves is the sketch of the whole.
    /// </summary>
    [Theory]
    [InlineData("lognormal")]
    [InlineData("uniform")]
    [InlineData("integers")]
    [InlineData("mixed-sign")]
    public void Quantile_sketch_is_within_one_percent_and_merges(string distribution)
    {
        var random = new Random(5);
        double Next() => distribution switch
        {
            "lognormal" => Math.Exp(6 + (1.5 * Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble()))),
            "uniform" => 1 + (random.NextDouble() * 5000),
            "integers" => random.Next(0, 40) * 25,
            _ => (random.NextDouble() * 2000) - 1000,
        };
        var values = Enumerable.Range(0, 20_000).Select(_ => Next()).ToArray();
        var whole = new QuantileSketch();
        var first = new QuantileSketch();
        var second = new QuantileSketch();
        for (var i = 0; i < values.Length; i++)
        {
            whole.Add(values[i]);
            (i % 2 == 0 ? first : second).Add(values[i]);
        }

        first.Add(second);
        Assert.Equal(whole.Bins, first.Bins);
        var sorted = values.Order().ToArray();
        foreach (var p in new[] { 0.0, 0.01, 0.25, 0.5, 0.9, 0.95, 0.99, 1.0 })
        {
            var exact = Statistics.Percentile(sorted, p);
            var estimate = whole.Quantile(p)!.Value;
            Assert.True(Math.Abs(estimate - exact) <= (QuantileSketch.RelativeAccuracy * Math.Abs(exact)) + 1e-9, $"p{p}: {estimate} vs {exact}");
        }
    }

    private static Moments Units<T>(IEnumerable<T> units, Func<T, double[]> values)
    {
        var moments = new Moments();
        foreach (var unit in units)
        {
            var vector = new double[MetricFields.Count];
            var fields = values(unit);
            MetricField[] targets = fields.Length == 2 ? [MetricField.Sessions, MetricField.Prompts] : [MetricField.Sessions, MetricField.Feedback, MetricField.FeedbackUp];
            for (var i = 0; i < fields.Length; i++)
            {
                vector[(int)targets[i]] = fields[i];
            }

            moments.Add(vector);
        }

        return moments;
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
