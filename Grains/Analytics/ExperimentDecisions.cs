using SessionTracking.ReadModel;
using SessionTracking.Storage;

namespace SessionTracking.Analytics;

/// <summary>
/// The comparisons of a treatment with the baseline and what they decide: fixed-horizon and sequential results per metric,
/// p-values adjusted over the report, guardrails and the readout (docs/analytics.md, "Decisions").
/// </summary>
/// <param name="custom">The experiment's custom metrics over the report's window; <paramref name="customOrigin"/> since its start (sequential results).</param>
internal sealed class ExperimentDecisions(AnalyticsOptions options, ExperimentOptions? experiment, AnalysisUnit unit, CustomMetricReport? custom = null, CustomMetricReport? customOrigin = null)
{
    /// <summary>The compared metrics as ratios of sums over the units.</summary>
    public static readonly IReadOnlyDictionary<string, (MetricField Numerator, MetricField Denominator)> Ratios = new Dictionary<string, (MetricField, MetricField)>
    {
        ["up_rate"] = (MetricField.FeedbackUp, MetricField.Feedback),
        ["latency_ms"] = (MetricField.LatencySum, MetricField.LatencyCount),
        ["duration_ms"] = (MetricField.DurationMs, MetricField.Ended),
        ["prompts_per_session"] = (MetricField.Prompts, MetricField.Sessions),
        ["errors_per_session"] = (MetricField.Errors, MetricField.Sessions),
        ["stopped_rate"] = (MetricField.Stopped, MetricField.Responses),
        ["ttft_ms"] = (MetricField.TtftSum, MetricField.TtftCount),
    };

    /// <summary>
    /// One treatment against the baseline, on the report's window; the sequential results on the data since the
    /// experiment's start (<paramref name="originBaseline"/>, <paramref name="originTreatment"/>).
    /// </summary>
    public GroupComparison Compare(GroupFigures baseline, GroupFigures treatment, GroupFigures? originBaseline, GroupFigures? originTreatment)
    {
        Difference Of(string metric) => Difference(metric, baseline, treatment, originBaseline, originTreatment);
        var comparison = new GroupComparison(
            baseline.ModelGroup,
            treatment.ModelGroup,
            unit,
            Of("up_rate"),
            Of("latency_ms"),
            Of("duration_ms"),
            Of("prompts_per_session"),
            Of("errors_per_session"),
            Of("stopped_rate"),
            CustomMetrics: custom is null ? null : CompareCustom(baseline, treatment, originBaseline, originTreatment));
        return comparison with { Readout = Readout(comparison, baseline, treatment, originBaseline, originTreatment) };
    }

    /// <summary>
    /// Every custom figure that the report can give, compared like the built-in ones: a quantile's (value, variance) pair
    /// from its outer interval (<see cref="CustomMetricReport.Ratio"/>) goes through the same Welch and sequential tests.
    /// </summary>
    private List<CustomComparison> CompareCustom(GroupFigures baseline, GroupFigures treatment, GroupFigures? originBaseline, GroupFigures? originTreatment)
    {
        var comparisons = new List<CustomComparison>();
        foreach (var figure in custom!.Figures)
        {
            var origin = customOrigin?.Figure(figure.Name);
            var difference = Difference(
                g => custom.Ratio(figure, g),
                g => origin is null ? null : customOrigin!.Ratio(origin, g),
                baseline, treatment, originBaseline, originTreatment);
            if (difference is not null)
            {
                comparisons.Add(new CustomComparison(figure.Name, figure.HigherIsBetter, difference, CupedOf(figure, origin, baseline, treatment, originBaseline, originTreatment)));
            }
        }

        return comparisons;
    }

    /// <summary>
    /// CUPED on a figure with a covariate (users as units): the adjusted fixed-horizon difference on the report's window,
    /// and the mSPRT sequential result on the adjusted difference and variance since the experiment's start (θ estimated
    /// from the data so far, a plug-in like the delta method's variance).
    /// </summary>
    private CupedResult? CupedOf(CustomFigure figure, CustomFigure? origin, GroupFigures baseline, GroupFigures treatment, GroupFigures? originBaseline, GroupFigures? originTreatment)
    {
        if (custom!.Covariate(figure, baseline) is not { } b || custom.Covariate(figure, treatment) is not { } t || Cuped.Compare(b, t) is not { } window)
        {
            return null;
        }

        var adjusted = window.Adjusted;
        if (origin is not null && originBaseline is not null && originTreatment is not null
            && customOrigin!.Covariate(origin, originBaseline) is { } ob && customOrigin.Covariate(origin, originTreatment) is { } ot
            && Cuped.Compare(ob, ot) is { Adjusted.Value: { } value } since
            && ob.Units + ot.Units > 0
            && Statistics.Sequential(value, since.AdjustedVariance, ob.Units * ot.Units / (ob.Units + ot.Units), options.Alpha, options.SequentialEffectScale) is { } s)
        {
            adjusted = adjusted with { Sequential = new SequentialResult(value, s.PValue, s.Low, s.High) };
        }

        return new CupedResult(adjusted, window.Theta, window.VarianceReduction, custom.CupedPreDays);
    }

    /// <summary>Holm and Benjamini–Hochberg adjustments of the fixed-horizon p-values over every comparison of a report.</summary>
    public static IReadOnlyList<GroupComparison> AdjustPValues(IReadOnlyList<GroupComparison> comparisons)
    {
        // Built-in and custom comparisons alike: one family per report.
        var differences = comparisons.SelectMany(Differences).ToList();
        var p = differences.Select(d => d.PValue).ToList();
        var holm = Statistics.Holm(p);
        var bh = Statistics.BenjaminiHochberg(p);
        var k = 0;
        Difference Next(Difference d)
        {
            var adjusted = d with { HolmPValue = holm[k], BenjaminiHochbergPValue = bh[k] };
            k++;
            return adjusted;
        }

        return [.. comparisons.Select(c => c with
        {
            UpRate = Next(c.UpRate),
            LatencyMs = Next(c.LatencyMs),
            DurationMs = Next(c.DurationMs),
            PromptsPerSession = Next(c.PromptsPerSession),
            ErrorsPerSession = Next(c.ErrorsPerSession),
            StoppedRate = Next(c.StoppedRate!),
            CustomMetrics = c.CustomMetrics is null ? null : [.. c.CustomMetrics.Select(m => m with { Difference = Next(m.Difference) })],
        })];
    }

    private static IEnumerable<Difference> Differences(GroupComparison c) =>
        [c.UpRate, c.LatencyMs, c.DurationMs, c.PromptsPerSession, c.ErrorsPerSession, c.StoppedRate!, .. c.CustomMetrics?.Select(m => m.Difference) ?? []];

    private Difference Difference(string metric, GroupFigures baseline, GroupFigures treatment, GroupFigures? originBaseline, GroupFigures? originTreatment)
    {
        var (numerator, denominator) = Ratios[metric];
        (double? Value, double? Variance, double Units)? Of(GroupFigures g)
        {
            var (value, variance) = Statistics.Ratio(g.Units(unit), numerator, denominator);
            return (value, variance, g.Units(unit).Units);
        }

        return Difference(Of, Of, baseline, treatment, originBaseline, originTreatment)!;
    }

    /// <summary>
    /// Fixed horizon on the report's window (<paramref name="ratio"/>) and the sequential result since the experiment's
    /// start (<paramref name="originRatio"/>); null when the window's figure cannot be given.
    /// </summary>
    private Difference? Difference(
        Func<GroupFigures, (double? Value, double? Variance, double Units)?> ratio,
        Func<GroupFigures, (double? Value, double? Variance, double Units)?> originRatio,
        GroupFigures baseline, GroupFigures treatment, GroupFigures? originBaseline, GroupFigures? originTreatment)
    {
        if (ratio(baseline) is not { } bw || ratio(treatment) is not { } tw)
        {
            return null;
        }

        var fixedHorizon = Statistics.Compare((bw.Value, bw.Variance), (tw.Value, tw.Variance));
        if (originBaseline is null || originTreatment is null || originRatio(originBaseline) is not { } b || originRatio(originTreatment) is not { } t)
        {
            return fixedHorizon;
        }

        var (bValue, bVariance) = (b.Value, b.Variance);
        var (tValue, tVariance) = (t.Value, t.Variance);
        if (bValue is null || tValue is null || bVariance is null || tVariance is null || b.Units + t.Units <= 0)
        {
            return fixedHorizon;
        }

        var effectiveUnits = b.Units * t.Units / (b.Units + t.Units);
        var sequential = Statistics.Sequential(tValue.Value - bValue.Value, bVariance.Value + tVariance.Value, effectiveUnits, options.Alpha, options.SequentialEffectScale);
        return sequential is { } s
            ? fixedHorizon with { Sequential = new SequentialResult(tValue.Value - bValue.Value, s.PValue, s.Low, s.High) }
            : fixedHorizon;
    }

    private Readout Readout(GroupComparison comparison, GroupFigures baseline, GroupFigures treatment, GroupFigures? originBaseline, GroupFigures? originTreatment)
    {
        var primary = experiment?.PrimaryMetric ?? "up_rate";
        var customPrimary = custom?.Figure(primary);
        var higherIsBetter = experiment?.PrimaryHigherIsBetter ?? customPrimary?.HigherIsBetter ?? true;
        var guardrails = (experiment?.Guardrails ?? []).OrderBy(g => g.Key, StringComparer.Ordinal)
            .Select(g => Guardrail(g.Key, g.Value, baseline, treatment, originBaseline, originTreatment))
            .ToList();
        var reasons = new List<string>();
        foreach (var breached in guardrails.Where(g => g.Status == "breached"))
        {
            reasons.Add($"guardrail {breached.Name}: {breached.Metric} {Signed(breached.RelativeChange)} against a limit of {breached.Threshold:P0} (sequential p = {breached.SequentialPValue?.ToString("G3", System.Globalization.CultureInfo.InvariantCulture) ?? "n/a"})");
        }

        var difference = Primary(comparison, primary) ?? new Difference(null, null, null, null, null, null, null);
        string decision;
        if (reasons.Count > 0)
        {
            decision = "guardrail_breached";
        }
        else if (difference.Sequential is { } s && s.PValue < options.Alpha)
        {
            var better = higherIsBetter ? s.Value > 0 : s.Value < 0;
            decision = better ? "ship" : "keep_baseline";
            reasons.Add($"{primary} {(better ? "better" : "worse")}: {s.Value:G4} [{s.Low:G4}, {s.High:G4}], sequential p = {s.PValue:G3} < α {options.Alpha}");
        }
        else
        {
            decision = "inconclusive";
            reasons.Add(difference.Sequential is { } t
                ? $"{primary}: sequential p = {t.PValue:G3} ≥ α {options.Alpha}; the interval [{t.Low:G4}, {t.High:G4}] still holds 0"
                : $"{primary}: not enough data for a test");
        }

        foreach (var watch in guardrails.Where(g => g.Status == "watch"))
        {
            reasons.Add($"guardrail {watch.Name}: {watch.Metric} {Signed(watch.RelativeChange)} beyond {watch.Threshold:P0}, not yet significant");
        }

        return new Readout(decision, primary, reasons, guardrails);
    }

    private GuardrailResult Guardrail(string name, GuardrailOptions guardrail, GroupFigures baseline, GroupFigures treatment, GroupFigures? originBaseline, GroupFigures? originTreatment)
    {
        double? b, t, p = null;
        var customFigure = custom?.Figure(guardrail.Metric);
        var higherIsWorse = guardrail.HigherIsWorse ?? !(customFigure?.HigherIsBetter ?? false);
        // The built-in p95 figures have no test: their guardrails compare point values. Custom quantiles have one.
        var untested = customFigure is null && guardrail.Metric is "latency_p95" or "ttft_p95";
        if (customFigure is not null)
        {
            var difference = Difference(g => custom!.Ratio(customFigure, g), g => customOrigin?.Figure(customFigure.Name) is { } o ? customOrigin.Ratio(o, g) : null, baseline, treatment, originBaseline, originTreatment);
            (b, t, p) = (difference?.BaselineValue, difference?.TreatmentValue, difference?.Sequential?.PValue);
        }
        else if (guardrail.Metric is "latency_p95" or "ttft_p95")
        {
            var metric = guardrail.Metric == "latency_p95" ? QuantileMetric.LatencyMs : QuantileMetric.TimeToFirstTokenMs;
            b = baseline.Sketch(metric).Quantile(0.95);
            t = treatment.Sketch(metric).Quantile(0.95);
        }
        else
        {
            var difference = Difference(guardrail.Metric, baseline, treatment, originBaseline, originTreatment);
            (b, t, p) = (difference.BaselineValue, difference.TreatmentValue, difference.Sequential?.PValue);
        }

        if (b is not { } bv || t is not { } tv || bv == 0)
        {
            return new GuardrailResult(name, guardrail.Metric, higherIsWorse, guardrail.Threshold, b, t, null, p, "no_data");
        }

        var change = (tv - bv) / Math.Abs(bv);
        if (!double.IsFinite(change))
        {
            return new GuardrailResult(name, guardrail.Metric, higherIsWorse, guardrail.Threshold, b, t, null, p, "no_data");
        }

        var harm = higherIsWorse ? change : -change;
        var status = harm <= guardrail.Threshold ? "ok"
            : untested || p < options.Alpha ? "breached"
            : "watch";
        return new GuardrailResult(name, guardrail.Metric, higherIsWorse, guardrail.Threshold, bv, tv, change, p, status);
    }

    private static Difference? Primary(GroupComparison c, string metric) => metric switch
    {
        "up_rate" => c.UpRate,
        "latency_ms" => c.LatencyMs,
        "duration_ms" => c.DurationMs,
        "prompts_per_session" => c.PromptsPerSession,
        "errors_per_session" => c.ErrorsPerSession,
        "stopped_rate" => c.StoppedRate!,
        // A custom metric with CUPED decides on its adjusted result: as valid, and narrower.
        _ => c.CustomMetrics?.FirstOrDefault(m => m.Name == metric) is { } m ? m.Cuped?.Adjusted ?? m.Difference : null,
    };

    private static string Signed(double? change) => change is { } c ? c.ToString("+0.0%;-0.0%", System.Globalization.CultureInfo.InvariantCulture) : "n/a";
}
