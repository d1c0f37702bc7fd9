namespace SessionTracking.Analytics;

/// <summary>
/// Sufficient statistics of one group for CUPED: per unit the metric <c>y</c> in the experiment and its covariate
/// <c>x</c> (the same metric in the pre-period before the unit's first exposure), summed over the group's units. Sums,
/// so groups, hours and shards add up like the read model's other aggregates.
/// </summary>
public readonly record struct CovariateMoments(double Units, double SumY, double SumX, double SumYY, double SumXX, double SumXY)
{
    public static CovariateMoments Of(IEnumerable<(double Y, double X)> units)
    {
        var m = default(CovariateMoments);
        foreach (var (y, x) in units)
        {
            m = m.Add(y, x);
        }

        return m;
    }

    public CovariateMoments Add(double y, double x) =>
        new(Units + 1, SumY + y, SumX + x, SumYY + (y * y), SumXX + (x * x), SumXY + (x * y));

    public double MeanY => SumY / Units;

    public double MeanX => SumX / Units;

    /// <summary>Sample (co)variances with n − 1; zero for fewer than two units.</summary>
    public (double Syy, double Sxx, double Sxy) Covariances()
    {
        if (Units < 2)
        {
            return (0, 0, 0);
        }

        var n = Units;
        return (
            Math.Max(0, (SumYY - (SumY * SumY / n)) / (n - 1)),
            Math.Max(0, (SumXX - (SumX * SumX / n)) / (n - 1)),
            (SumXY - (SumX * SumY / n)) / (n - 1));
    }
}

/// <summary>What CUPED changed in one comparison: both differences, θ and the share of variance it removed.</summary>
public sealed record CupedComparison(Difference Unadjusted, Difference Adjusted, double Theta, double? VarianceReduction, double UnadjustedVariance, double AdjustedVariance);

/// <summary>
/// CUPED, "Controlled-experiment Using Pre-Experiment Data" (Deng, Xu, Kohavi and Walker, "Improving the Sensitivity of
/// Online Controlled Experiments by Utilizing Pre-Experiment Data", WSDM 2013, §3.2–3.3): each unit's metric y is replaced
/// by y − θ(x − E x), with x its pre-period value and θ = Cov(y, x) / Var(x), which leaves the difference of means
/// unbiased (x is independent of the assignment) and shrinks its variance by the factor 1 − ρ², ρ the correlation of y
/// and x. θ is estimated once for both groups from their pooled within-group (co)variances (so a treatment effect on
/// the mean does not leak into θ), and the difference's variance is the Welch form of the adjusted values:
///   Δ_cv = (ȳ_t − θ x̄_t) − (ȳ_b − θ x̄_b),  Var = Σ_g (S_yy − 2θ S_xy + θ² S_xx)_g / n_g.
/// Units without a pre-period (new users) have x = 0: the adjustment stays unbiased, and only the reduction is smaller.
/// </summary>
public static class Cuped
{
    public static CupedComparison? Compare(CovariateMoments baseline, CovariateMoments treatment)
    {
        if (baseline.Units < 2 || treatment.Units < 2)
        {
            return null;
        }

        var (yyB, xxB, xyB) = baseline.Covariances();
        var (yyT, xxT, xyT) = treatment.Covariances();
        var pooledXX = ((baseline.Units - 1) * xxB) + ((treatment.Units - 1) * xxT);
        var pooledXY = ((baseline.Units - 1) * xyB) + ((treatment.Units - 1) * xyT);
        var theta = pooledXX > 0 ? pooledXY / pooledXX : 0; // a constant covariate explains nothing

        var unadjustedB = yyB / baseline.Units;
        var unadjustedT = yyT / treatment.Units;
        var adjustedB = AdjustedVariance(yyB, xxB, xyB, theta) / baseline.Units;
        var adjustedT = AdjustedVariance(yyT, xxT, xyT, theta) / treatment.Units;

        var unadjusted = Statistics.Compare((baseline.MeanY, unadjustedB), (treatment.MeanY, unadjustedT));

        // The adjusted means are shifted by the same θ·E x, which cancels in the difference: report them around the
        // pooled covariate mean, so each stays on the metric's own scale.
        var pooledMeanX = (baseline.SumX + treatment.SumX) / (baseline.Units + treatment.Units);
        var adjusted = Statistics.Compare(
            (baseline.MeanY - (theta * (baseline.MeanX - pooledMeanX)), adjustedB),
            (treatment.MeanY - (theta * (treatment.MeanX - pooledMeanX)), adjustedT));

        var before = unadjustedB + unadjustedT;
        var after = adjustedB + adjustedT;
        double? reduction = before > 0 ? 1 - (after / before) : null;
        return new CupedComparison(unadjusted, adjusted, theta, reduction, before, after);
    }

    /// <summary>Var(y − θx) = S_yy − 2θ S_xy + θ² S_xx, never below zero (rounding).</summary>
    private static double AdjustedVariance(double syy, double sxx, double sxy, double theta) =>
        Math.Max(0, syy - (2 * theta * sxy) + (theta * theta * sxx));
}
