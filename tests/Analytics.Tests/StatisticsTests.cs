using SessionTracking.ReadModel;
using SessionTracking.TestSupport;

namespace SessionTracking.Analytics.Tests;

/// <summary>The statistics against published values.</summary>
[TestCategory("BVT")]
public sealed class StatisticsTests(Xunit.Abstractions.ITestOutputHelper output)
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

    /// <summary>
    /// Benjamini and Hochberg (1995), "Controlling the false discovery rate", J. R. Stat. Soc. B 57, §4: the 15 p-values of
    /// the Neuhaus et al. trial. At q = 0.05 the step-up procedure rejects the four smallest, Holm's step-down (and
    /// Bonferroni) only three. Adjusted values as R's p.adjust(p, "BH") / p.adjust(p, "holm") compute them.
    /// </summary>
    [Fact]
    public void Holm_and_Benjamini_Hochberg_on_the_papers_example()
    {
        double?[] p = [0.0001, 0.0004, 0.0019, 0.0095, 0.0201, 0.0278, 0.0298, 0.0344, 0.0459, 0.3240, 0.4262, 0.5719, 0.6528, 0.7590, 1.000];
        var bh = Statistics.BenjaminiHochberg(p);
        var holm = Statistics.Holm(p);
        Assert.Equal(4, bh.Count(x => x <= 0.05));
        Assert.Equal(3, holm.Count(x => x <= 0.05));
        double[] expectedBh = [0.0015, 0.003, 0.0095, 0.035625, 0.0603, 0.0638571428571, 0.0638571428571, 0.0645, 0.0765, 0.486, 0.5811818181818, 0.714875, 0.7532307692308, 0.8132142857143, 1];
        double[] expectedHolm = [0.0015, 0.0056, 0.0247, 0.114, 0.2211, 0.278, 0.278, 0.278, 0.3213, 1, 1, 1, 1, 1, 1];
        for (var i = 0; i < p.Length; i++)
        {
            Assert.Equal(expectedBh[i], bh[i]!.Value, 10);
            Assert.Equal(expectedHolm[i], holm[i]!.Value, 10);
        }

        // Order does not matter, and a missing p-value is left out of m.
        Assert.Equal([0.04, null, 0.02], Statistics.BenjaminiHochberg([0.04, null, 0.01]));
        Assert.Equal([0.04, null, 0.02], Statistics.Holm([0.04, null, 0.01]));
    }

    /// <summary>
    /// The mSPRT statistic against an independent computation: the likelihood ratio of D ~ N(θ, V) against θ = 0, integrated
    /// numerically over the mixture θ ~ N(0, τ²) (Johari et al. 2017, eq. 2), and the confidence sequence as the set of θ
    /// where the same ratio centred at θ stays below 1/α.
    /// </summary>
    [Theory]
    [InlineData(0.8, 0.09, 400.0)]
    [InlineData(-0.05, 0.0004, 10_000.0)]
    [InlineData(0.0, 1.0, 50.0)]
    public void Sequential_p_value_is_one_over_the_mixture_likelihood_ratio(double difference, double variance, double effectiveUnits)
    {
        const double alpha = 0.05;
        const double scale = 0.1;
        var result = Statistics.Sequential(difference, variance, effectiveUnits, alpha, scale)!.Value;
        var tau2 = scale * scale * variance * effectiveUnits;

        double Lambda(double centre)
        {
            // Σ over a fine grid of θ of N(θ; 0, τ²) · N(D; centre + θ, V) / N(D; centre, V).
            var sd = Math.Sqrt(tau2);
            double sum = 0, step = sd / 2000;
            for (var theta = -12 * sd; theta <= 12 * sd; theta += step)
            {
                var prior = Math.Exp(-theta * theta / (2 * tau2)) / Math.Sqrt(2 * Math.PI * tau2);
                var ratio = Math.Exp((-Math.Pow(difference - centre - theta, 2) + Math.Pow(difference - centre, 2)) / (2 * variance));
                sum += prior * ratio * step;
            }

            return sum;
        }

        Assert.Equal(Math.Min(1, 1 / Lambda(0)), result.PValue, 6);
        Assert.InRange(Lambda(result.High), (1 / alpha) * 0.999, (1 / alpha) * 1.001);
        Assert.InRange(Lambda(result.Low), (1 / alpha) * 0.999, (1 / alpha) * 1.001);
    }

    /// <summary>
    /// 2,000 simulated A/A experiments, each read after every batch of 100 units per group for 20 batches: stopping at the
    /// first fixed-horizon p &lt; 0.05 declares a difference far more often than 5 % (about 20–25 % in theory for 20 looks);
    /// the sequential p-value keeps the rate at or below α.
    /// </summary>
    [Fact]
    public void Under_continuous_peeking_the_sequential_test_keeps_its_false_positive_rate_and_the_fixed_horizon_test_does_not()
    {
        const int experiments = 2000, looks = 20, batch = 100;
        const double alpha = 0.05;
        var random = new Random(424242);
        double Normal() => Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
        int fixedFalse = 0, sequentialFalse = 0;
        for (var e = 0; e < experiments; e++)
        {
            double sa = 0, sa2 = 0, sb = 0, sb2 = 0;
            bool fixedRejected = false, sequentialRejected = false;
            for (var look = 1; look <= looks; look++)
            {
                for (var i = 0; i < batch; i++)
                {
                    var a = 10 + (2 * Normal());
                    var b = 10 + (2 * Normal());
                    (sa, sa2, sb, sb2) = (sa + a, sa2 + (a * a), sb + b, sb2 + (b * b));
                }

                double n = look * batch;
                var va = ((sa2 - (sa * sa / n)) / (n - 1)) / n;
                var vb = ((sb2 - (sb * sb / n)) / (n - 1)) / n;
                var fixedHorizon = Statistics.Compare((sa / n, va), (sb / n, vb));
                fixedRejected |= fixedHorizon.PValue < alpha;
                sequentialRejected |= Statistics.Sequential((sb / n) - (sa / n), va + vb, n / 2, alpha, 0.1)!.Value.PValue < alpha;
            }

            fixedFalse += fixedRejected ? 1 : 0;
            sequentialFalse += sequentialRejected ? 1 : 0;
        }

        var fixedRate = (double)fixedFalse / experiments;
        var sequentialRate = (double)sequentialFalse / experiments;
        output.WriteLine($"false positives over {experiments} A/A experiments with {looks} looks: fixed horizon {fixedRate:P1}, sequential {sequentialRate:P1}");
        Assert.True(fixedRate > 0.12, $"peeking at the fixed-horizon test: {fixedRate:P1} false positives");
        Assert.True(sequentialRate <= alpha, $"sequential: {sequentialRate:P1} false positives");
    }

    /// <summary>
    /// Worked examples: two means with σ = 1, δ = 0.5, α = 0.05, power 0.8 need 2(1.95996 + 0.84162)²/0.25 = 62.8, so 63
    /// per group (the normal-approximation entry of the usual tables; Cohen's t-based table says 64); two proportions
    /// 0.10 vs 0.15 need 686 per group (Fleiss, Levin and Paik, Table A.4, without continuity correction).
    /// </summary>
    [Fact]
    public void Sample_sizes_match_the_tables()
    {
        Assert.Equal(1.959963984540054, Statistics.NormalQuantile(0.975), 9);
        Assert.Equal(0.8416212335729143, Statistics.NormalQuantile(0.8), 9);
        Assert.Equal(63, Math.Ceiling(Statistics.SampleSizeForMeans(1, 0.5, 0.05, 0.8)));
        Assert.Equal(686, Math.Ceiling(Statistics.SampleSizeForProportions(0.10, 0.15, 0.05, 0.8)));
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
