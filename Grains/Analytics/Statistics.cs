using SessionTracking.ReadModel;

namespace SessionTracking.Analytics;

/// <summary>
/// The statistics of the experiment report, written out so they can be checked against textbook values:
/// delta-method ratios and differences, Pearson chi-square goodness of fit, percentiles. No figure is ever NaN or
/// infinite: one that cannot be computed in doubles (stored sums beyond range, a variance whose square root overflows)
/// is null, absent from the report, so stored data can never make a report unwritable as JSON.
/// </summary>
public static class Statistics
{
    /// <summary>z of a two-sided 95 % interval.</summary>
    public const double Z95 = 1.959963984540054;

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
    /// Ratio of sums R = Σy / Σx over n units with its delta-method variance (Deng, Knoblich and Lu, "Applying the Delta
    /// Method in Metric Analytics", KDD 2018, eq. 4): Var(R) ≈ (S_yy − 2R·S_xy + R²·S_xx) / (n·x̄²), sample (co)variances
    /// with n − 1. A mean per unit is the case x = 1 (S_xx = S_xy = 0: the squared standard error s²/n). Nulls: no units or
    /// Σx = 0 (no value); fewer than two units (no variance).
    /// </summary>
    public static (double? Value, double? Variance) Ratio(Moments units, MetricField numerator, MetricField denominator) =>
        Ratio(new Metrics.RatioSums(
            units.Units, units.Sum(numerator), units.Sum(denominator),
            units.Cross(numerator, numerator), units.Cross(denominator, denominator), units.Cross(numerator, denominator)));

    /// <summary>The same ratio from its sums over the units (a custom metric's aggregate, <see cref="Metrics.MetricAggregation"/>).</summary>
    public static (double? Value, double? Variance) Ratio(Metrics.RatioSums units)
    {
        var n = units.Units;
        var sx = units.Denominator;
        var sy = units.Numerator;
        var r = sy / sx;
        if (n <= 0 || sx == 0 || !double.IsFinite(r))
        {
            return (null, null);
        }

        if (n < 2)
        {
            return (r, null);
        }

        var x = sx / n;
        var y = sy / n;
        var sxx = (units.DenominatorSquares - n * x * x) / (n - 1);
        var syy = (units.NumeratorSquares - n * y * y) / (n - 1);
        var sxy = (units.Cross - n * x * y) / (n - 1);
        var variance = (syy - 2 * r * sxy + r * r * sxx) / (n * x * x);
        return (r, double.IsFinite(variance) ? Math.Max(0, variance) : null);
    }

    /// <summary>A 95 % normal interval value ± z·sqrt(variance); nulls without a variance or when a bound is not finite.</summary>
    public static Estimate Interval((double? Value, double? Variance) ratio)
    {
        if (ratio is not { Value: { } value, Variance: { } variance })
        {
            return new Estimate(Finite(ratio.Value), null, null);
        }

        var half = Z95 * Math.Sqrt(variance);
        return AllFinite(value, value - half, value + half) ? new Estimate(value, value - half, value + half) : new Estimate(Finite(value), null, null);
    }

    /// <summary>The value when it is a finite number, else null.</summary>
    public static double? Finite(double? value) => value is { } v && double.IsFinite(v) ? v : null;

    private static bool AllFinite(params ReadOnlySpan<double> values)
    {
        foreach (var value in values)
        {
            if (!double.IsFinite(value))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// treatment − baseline with the unpooled (Welch) standard error sqrt(Var_b + Var_t), a 95 % normal interval and the
    /// two-sided p-value of z = difference / standard error.
    /// </summary>
    public static Difference Compare((double? Value, double? Variance) baseline, (double? Value, double? Variance) treatment)
    {
        if (baseline.Value is not { } b || treatment.Value is not { } t)
        {
            return new Difference(baseline.Value, treatment.Value, null, null, null, null, null);
        }

        var difference = t - b;
        if (!double.IsFinite(difference))
        {
            return new Difference(b, t, null, null, null, null, null);
        }

        if (baseline.Variance is not { } vb || treatment.Variance is not { } vt || vb + vt <= 0)
        {
            return new Difference(b, t, difference, null, null, null, null);
        }

        var se = Math.Sqrt(vb + vt);
        var z = difference / se;
        var p = Erfc(Math.Abs(z) / Math.Sqrt(2));
        return AllFinite(se, z, p, difference - Z95 * se, difference + Z95 * se)
            ? new Difference(b, t, difference, difference - Z95 * se, difference + Z95 * se, z, p)
            : new Difference(b, t, difference, null, null, null, null);
    }

    /// <summary>
    /// Always-valid p-value and confidence sequence of a difference whose estimate is approximately normal with variance
    /// <paramref name="variance"/>: the mixture sequential probability ratio test with a normal mixture N(0, τ²) over the
    /// effect (Johari, Koomen, Pekelis and Walsh, "Peeking at A/B Tests", KDD 2017, eq. 2; Johari, Pekelis and Walsh,
    /// "Always Valid Inference", arXiv:1512.04922, §4):
    ///   Λ = sqrt(V / (V + τ²)) · exp(D² τ² / (2V (V + τ²))),  p = min(1, 1/Λ),
    ///   confidence sequence D ± sqrt(V (V + τ²) / τ² · (2 ln(1/α) + ln((V + τ²)/V))).
    /// By Ville's inequality P(some look has p ≤ α | no difference) ≤ α, however often one looks. τ² is
    /// (<paramref name="effectScale"/> · σ)², σ² = V · n_eff the per-unit variance (n_eff = n_b·n_t/(n_b + n_t)): a prior of
    /// standardised effects with standard deviation <paramref name="effectScale"/>.
    /// </summary>
    public static (double PValue, double Low, double High)? Sequential(double difference, double variance, double effectiveUnits, double alpha, double effectScale)
    {
        if (!(variance > 0) || !(effectiveUnits > 0))
        {
            return null;
        }

        var tau2 = effectScale * effectScale * variance * effectiveUnits;
        var v = variance;
        var logLambda = (0.5 * Math.Log(v / (v + tau2))) + (difference * difference * tau2 / (2 * v * (v + tau2)));
        var p = logLambda <= 0 ? 1.0 : Math.Min(1.0, Math.Exp(-logLambda));
        var half = Math.Sqrt(v * (v + tau2) / tau2 * ((2 * Math.Log(1 / alpha)) + Math.Log((v + tau2) / v)));
        return AllFinite(difference, p, difference - half, difference + half) ? (p, difference - half, difference + half) : null;
    }

    /// <summary>Holm's step-down adjustment (Holm 1979): p̃(i) = max over j ≤ i of min(1, (m − j + 1)·p(j)), p sorted ascending.</summary>
    public static double?[] Holm(IReadOnlyList<double?> pValues)
    {
        var order = pValues.Select((p, i) => (p, i)).Where(x => x.p is not null).OrderBy(x => x.p).ToList();
        var adjusted = new double?[pValues.Count];
        var m = order.Count;
        var running = 0.0;
        for (var k = 0; k < m; k++)
        {
            running = Math.Max(running, Math.Min(1, (m - k) * order[k].p!.Value));
            adjusted[order[k].i] = running;
        }

        return adjusted;
    }

    /// <summary>Benjamini–Hochberg step-up adjustment (1995): p̃(i) = min over j ≥ i of min(1, m·p(j)/j), p sorted ascending.</summary>
    public static double?[] BenjaminiHochberg(IReadOnlyList<double?> pValues)
    {
        var order = pValues.Select((p, i) => (p, i)).Where(x => x.p is not null).OrderBy(x => x.p).ToList();
        var adjusted = new double?[pValues.Count];
        var m = order.Count;
        var running = 1.0;
        for (var k = m - 1; k >= 0; k--)
        {
            running = Math.Min(running, Math.Min(1, m * order[k].p!.Value / (k + 1)));
            adjusted[order[k].i] = running;
        }

        return adjusted;
    }

    /// <summary>Φ⁻¹(p), the standard normal quantile: bisection on Φ(z) = erfc(−z/√2)/2 to 1e-12.</summary>
    public static double NormalQuantile(double p)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(p, 0);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(p, 1);
        double lo = -40, hi = 40;
        while (hi - lo > 1e-12)
        {
            var mid = (lo + hi) / 2;
            if (Erfc(-mid / Math.Sqrt(2)) / 2 < p)
            {
                lo = mid;
            }
            else
            {
                hi = mid;
            }
        }

        return (lo + hi) / 2;
    }

    /// <summary>
    /// Units per group to detect p₁ → p₂ with a two-sided test at <paramref name="alpha"/> and <paramref name="power"/>
    /// (Fleiss, Levin and Paik, Statistical Methods for Rates and Proportions, 3rd ed., eq. 4.14, without continuity
    /// correction): n = (z₁₋α/₂·sqrt(2p̄(1 − p̄)) + z₁₋β·sqrt(p₁(1 − p₁) + p₂(1 − p₂)))² / (p₂ − p₁)².
    /// </summary>
    public static double SampleSizeForProportions(double p1, double p2, double alpha, double power)
    {
        var za = NormalQuantile(1 - (alpha / 2));
        var zb = NormalQuantile(power);
        var pBar = (p1 + p2) / 2;
        var root = (za * Math.Sqrt(2 * pBar * (1 - pBar))) + (zb * Math.Sqrt((p1 * (1 - p1)) + (p2 * (1 - p2))));
        return root * root / ((p2 - p1) * (p2 - p1));
    }

    /// <summary>Units per group to detect a difference δ of means with per-unit standard deviation σ: n = 2(z₁₋α/₂ + z₁₋β)²σ²/δ².</summary>
    public static double SampleSizeForMeans(double sd, double delta, double alpha, double power)
    {
        var z = NormalQuantile(1 - (alpha / 2)) + NormalQuantile(power);
        return 2 * z * z * sd * sd / (delta * delta);
    }

    /// <summary>Sample standard deviation of n values from their sum and sum of squares; null for fewer than two or out of range.</summary>
    public static double? StandardDeviation(double count, double sum, double sumOfSquares)
    {
        var variance = (sumOfSquares - sum * sum / count) / (count - 1);
        return count < 2 || !double.IsFinite(variance) ? null : Math.Sqrt(Math.Max(0, variance));
    }

    /// <summary>Percentile of sorted values by linear interpolation between order statistics (numpy's default, R type 7).</summary>
    public static double Percentile(IReadOnlyList<double> sorted, double p)
    {
        var h = (sorted.Count - 1) * p;
        var lo = (int)Math.Floor(h);
        var hi = Math.Min(lo + 1, sorted.Count - 1);
        return sorted[lo] + (h - lo) * (sorted[hi] - sorted[lo]);
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
