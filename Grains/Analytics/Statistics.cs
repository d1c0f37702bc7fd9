namespace SessionTracking.Analytics;

/// <summary>
/// The statistics of the experiment report, written out so they can be checked against textbook values:
/// Wilson score interval, pooled two-proportion z-test, Pearson chi-square goodness of fit, percentile bootstrap.
/// </summary>
public static class Statistics
{
    /// <summary>z of a two-sided 95 % interval.</summary>
    public const double Z95 = 1.959963984540054;

    /// <summary>Wilson score interval (Wilson 1927; Newcombe 1998 method 3). Null when <paramref name="trials"/> is 0.</summary>
    public static Proportion Wilson(long successes, long trials, double z = Z95)
    {
        if (trials <= 0)
        {
            return new Proportion(successes, trials, null, null, null);
        }

        double n = trials;
        var p = successes / n;
        var z2 = z * z;
        var centre = (p + z2 / (2 * n)) / (1 + z2 / n);
        var half = z / (1 + z2 / n) * Math.Sqrt(p * (1 - p) / n + z2 / (4 * n * n));
        return new Proportion(successes, trials, p, Math.Max(0, centre - half), Math.Min(1, centre + half));
    }

    /// <summary>
    /// Pooled two-proportion z-test of p2 − p1 (treatment minus baseline), two-sided p-value.
    /// Nulls when a group is empty or the pooled proportion is 0 or 1 (no variance to test against).
    /// </summary>
    public static ProportionTest TwoProportionZ(long successes1, long trials1, long successes2, long trials2)
    {
        if (trials1 <= 0 || trials2 <= 0)
        {
            return new ProportionTest(null, null, null);
        }

        var p1 = (double)successes1 / trials1;
        var p2 = (double)successes2 / trials2;
        var pooled = (double)(successes1 + successes2) / (trials1 + trials2);
        var se = Math.Sqrt(pooled * (1 - pooled) * (1.0 / trials1 + 1.0 / trials2));
        if (se == 0)
        {
            return new ProportionTest(p2 - p1, null, null);
        }

        var z = (p2 - p1) / se;
        return new ProportionTest(p2 - p1, z, Erfc(Math.Abs(z) / Math.Sqrt(2)));
    }

    /// <summary>Pearson chi-square goodness of fit of <paramref name="observed"/> counts against expected proportions (any positive weights).</summary>
    public static (double ChiSquare, int DegreesOfFreedom, double PValue, double[] Expected) ChiSquareGoodnessOfFit(IReadOnlyList<long> observed, IReadOnlyList<double> weights)
    {
        ArgumentOutOfRangeException.ThrowIfNotEqual(observed.Count, weights.Count);
        var total = observed.Sum();
        var weightSum = weights.Sum();
        var expected = weights.Select(w => total * w / weightSum).ToArray();
        var chi = 0.0;
        for (var i = 0; i < observed.Count; i++)
        {
            if (expected[i] > 0)
            {
                var d = observed[i] - expected[i];
                chi += d * d / expected[i];
            }
        }

        var df = observed.Count - 1;
        return (chi, df, df > 0 ? ChiSquareSurvival(chi, df) : 1.0, expected);
    }

    /// <summary>P(X ≥ x) for X ~ χ²(df): the regularized upper incomplete gamma Q(df/2, x/2).</summary>
    public static double ChiSquareSurvival(double x, int df) => x <= 0 ? 1.0 : UpperRegularizedGamma(df / 2.0, x / 2.0);

    /// <summary>
    /// Percentile bootstrap 95 % interval of mean(treatment) − mean(baseline), resampling each group with replacement
    /// from a seeded generator, so the same data and seed always give the same interval.
    /// </summary>
    public static MeanDifference BootstrapMeanDifference(IReadOnlyList<double> baseline, IReadOnlyList<double> treatment, int resamples = 2000, int seed = 20241027)
    {
        if (baseline.Count == 0 || treatment.Count == 0)
        {
            return new MeanDifference(null, null, null, resamples, seed);
        }

        var observed = treatment.Average() - baseline.Average();
        var random = new Random(seed);
        var differences = new double[resamples];
        for (var r = 0; r < resamples; r++)
        {
            differences[r] = ResampledMean(treatment, random) - ResampledMean(baseline, random);
        }

        Array.Sort(differences);
        return new MeanDifference(observed, Percentile(differences, 0.025), Percentile(differences, 0.975), resamples, seed);
    }

    /// <summary>Percentile of sorted values by linear interpolation between order statistics (numpy's default, R type 7).</summary>
    public static double Percentile(IReadOnlyList<double> sorted, double p)
    {
        var h = (sorted.Count - 1) * p;
        var lo = (int)Math.Floor(h);
        var hi = Math.Min(lo + 1, sorted.Count - 1);
        return sorted[lo] + (h - lo) * (sorted[hi] - sorted[lo]);
    }

    private static double ResampledMean(IReadOnlyList<double> values, Random random)
    {
        var sum = 0.0;
        for (var i = 0; i < values.Count; i++)
        {
            sum += values[random.Next(values.Count)];
        }

        return sum / values.Count;
    }

    /// <summary>Complementary error function: erfc(x) = Q(1/2, x²) for x ≥ 0.</summary>
    public static double Erfc(double x) => x < 0 ? 2 - UpperRegularizedGamma(0.5, x * x) : UpperRegularizedGamma(0.5, x * x);

    /// <summary>Q(a, x) = Γ(a, x)/Γ(a): series for x &lt; a + 1, Lentz continued fraction otherwise (Numerical Recipes §6.2).</summary>
    private static double UpperRegularizedGamma(double a, double x)
    {
        if (x <= 0)
        {
            return 1.0;
        }

        var logPrefix = -x + a * Math.Log(x) - LogGamma(a);
        if (x < a + 1)
        {
            double sum = 1.0 / a, term = sum, ap = a;
            for (var n = 0; n < 1000 && Math.Abs(term) > Math.Abs(sum) * 1e-16; n++)
            {
                ap += 1;
                term *= x / ap;
                sum += term;
            }

            return 1.0 - sum * Math.Exp(logPrefix);
        }

        const double tiny = 1e-300;
        double b = x + 1 - a, c = 1 / tiny, d = 1 / b, f = d;
        for (var i = 1; i < 1000; i++)
        {
            var an = -i * (i - a);
            b += 2;
            d = an * d + b;
            d = Math.Abs(d) < tiny ? tiny : d;
            c = b + an / c;
            c = Math.Abs(c) < tiny ? tiny : c;
            d = 1 / d;
            var delta = d * c;
            f *= delta;
            if (Math.Abs(delta - 1) < 1e-16)
            {
                break;
            }
        }

        return Math.Exp(logPrefix) * f;
    }

    /// <summary>ln Γ(x) by the Lanczos approximation (g = 7, n = 9), accurate to about 1e-15 for x &gt; 0.</summary>
    private static double LogGamma(double x)
    {
        ReadOnlySpan<double> c =
        [
            0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
            12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
        ];
        if (x < 0.5)
        {
            return Math.Log(Math.PI / Math.Abs(Math.Sin(Math.PI * x))) - LogGamma(1 - x);
        }

        x -= 1;
        var sum = c[0];
        for (var i = 1; i < 9; i++)
        {
            sum += c[i] / (x + i);
        }

        var t = x + 7.5;
        return 0.5 * Math.Log(2 * Math.PI) + (x + 0.5) * Math.Log(t) - t + Math.Log(sum);
    }
}
