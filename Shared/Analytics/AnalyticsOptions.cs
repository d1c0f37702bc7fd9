using System.ComponentModel.DataAnnotations;
using SessionTracking.Metrics;

namespace SessionTracking.Analytics;

/// <summary>
/// Section <c>Analytics</c>. The intended split of an experiment, e.g.
/// <c>Analytics:Experiments:checkout-2024:Split:gpt-4=1</c> and <c>...:Split:claude-3=1</c> for 50/50.
/// </summary>
public sealed class AnalyticsOptions : IValidatableObject
{
    public const string SectionName = "Analytics";

    public Dictionary<string, ExperimentOptions> Experiments { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Custom metrics by name (docs/custom-metrics.md); silos validate them fully at start-up.</summary>
    public Dictionary<string, MetricOptions> Metrics { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Model prices by model name (or by a key with a <c>Model</c> setting), for the built-in cost metrics.</summary>
    public Dictionary<string, ModelPriceOptions> Prices { get; set; } = new(StringComparer.Ordinal);

    /// <summary>
    /// Days before a user's first exposure whose sessions (of any experiment) give CUPED's covariate: the same custom
    /// metric over that pre-period (docs/custom-metrics.md, "CUPED"). 0 turns CUPED off.
    /// </summary>
    [Range(0, 365)]
    public int CupedPreDays { get; set; } = 14;

    /// <summary>The cost metrics a price table adds: cost per priced response, and cost per unit (session or user).</summary>
    public static readonly IReadOnlyList<string> CostFigures = ["cost_per_response", "cost_per_unit"];

    /// <summary>Significance level of the report's tests, sequential results and readouts.</summary>
    [Range(1e-6, 0.5)]
    public double Alpha { get; set; } = 0.05;

    /// <summary>
    /// Standard deviation of the standardised effect in the sequential test's normal mixture (τ = scale · per-unit σ): the
    /// effect size the test is most sensitive to. It changes power, never validity.
    /// </summary>
    [Range(0.001, 10)]
    public double SequentialEffectScale { get; set; } = 0.1;

    /// <summary>SRM alarm threshold on the chi-square p-value (0.001 is the usual choice: SRM checks run often).</summary>
    [Range(1e-9, 0.5)]
    public double SampleRatioAlpha { get; set; } = 0.001;

    public static readonly IReadOnlySet<string> ComparedMetrics = new HashSet<string>(["up_rate", "latency_ms", "duration_ms", "prompts_per_session", "errors_per_session", "stopped_rate"]);

    public static readonly IReadOnlySet<string> GuardrailMetrics = new HashSet<string>(["errors_per_session", "stopped_rate", "latency_ms", "latency_p95", "ttft_ms", "ttft_p95"]);

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        var custom = CustomFigures();
        foreach (var (experiment, options) in Experiments)
        {
            if (!ComparedMetrics.Contains(options.PrimaryMetric) && !custom.Contains(options.PrimaryMetric))
            {
                yield return new ValidationResult($"Analytics:Experiments:{experiment}:PrimaryMetric must be one of {string.Join(", ", ComparedMetrics.Concat(custom))}.", [nameof(Experiments)]);
            }

            foreach (var (name, guardrail) in options.Guardrails)
            {
                if (!(GuardrailMetrics.Contains(guardrail.Metric) || custom.Contains(guardrail.Metric)) || !(guardrail.Threshold >= 0) || double.IsInfinity(guardrail.Threshold))
                {
                    yield return new ValidationResult($"Analytics:Experiments:{experiment}:Guardrails:{name} needs a Metric among {string.Join(", ", GuardrailMetrics.Concat(custom))} and a Threshold ≥ 0.", [nameof(Experiments)]);
                }
            }

            // No split is allowed: the clients then pick the groups (model_group on /session/start), and the experiment's
            // other settings (unit, primary metric, guardrails) still apply. A split, when there is one, assigns.
            if (options.Split.Count > 0 && (options.Split.Count < 2 || options.Split.Values.Any(w => !(w > 0) || double.IsInfinity(w))))
            {
                yield return new ValidationResult(
                    $"Analytics:Experiments:{experiment}:Split needs at least two groups with positive weights (or none, when clients pick the groups).",
                    [nameof(Experiments)]);
            }
        }
    }

    /// <summary>
    /// The report's figures of the custom metrics (and of the price table) as named in guardrails, primary metrics and
    /// plans: a metric's name, <c>&lt;funnel&gt;:step_&lt;j&gt;</c> per step of a funnel (j ≥ 1), the cost figures. Every
    /// one has a test, quantiles included (their outer interval, docs/custom-metrics.md, "Statistics").
    /// </summary>
    public IReadOnlySet<string> CustomFigures()
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (name, metric) in Metrics)
        {
            if (string.Equals(metric.Kind, "funnel", StringComparison.OrdinalIgnoreCase))
            {
                for (var step = 1; step <= metric.Steps.Count; step++)
                {
                    names.Add($"{name}:step_{step}");
                }
            }
            else
            {
                names.Add(name);
            }
        }

        if (Prices.Count > 0)
        {
            names.UnionWith(CostFigures);
        }

        return names;
    }
}

public sealed class ExperimentOptions
{
    /// <summary>model_group → relative weight; empty when the clients pick the groups (no assignment by the service).</summary>
    public Dictionary<string, double> Split { get; set; } = new(StringComparer.Ordinal);

    /// <summary>
    /// The unit the experiment randomises, hence its reports' unit: <c>User</c> (the default: assignment hashes the user id)
    /// or <c>Session</c> (the client picks a group per session).
    /// </summary>
    public AnalysisUnit Unit { get; set; } = AnalysisUnit.User;

    /// <summary>The metric the readout decides on: up_rate (default), latency_ms, duration_ms, prompts_per_session, errors_per_session or stopped_rate.</summary>
    public string PrimaryMetric { get; set; } = "up_rate";

    /// <summary>
    /// Whether a higher value of the primary metric is better. Unset: true for a built-in metric (up_rate), the custom
    /// metric's own <c>HigherIsBetter</c> for a custom one.
    /// </summary>
    public bool? PrimaryHigherIsBetter { get; set; }

    /// <summary>Guardrails by name, e.g. <c>Analytics:Experiments:x:Guardrails:errors:Metric=errors_per_session</c>, <c>…:Threshold=0.1</c>.</summary>
    public Dictionary<string, GuardrailOptions> Guardrails { get; set; } = new(StringComparer.Ordinal);
}

/// <summary>A guardrail: a metric that must not move in its harmful direction by more than <see cref="Threshold"/> (relative).</summary>
public sealed class GuardrailOptions
{
    /// <summary>errors_per_session, stopped_rate, latency_ms, latency_p95, ttft_ms or ttft_p95.</summary>
    public string Metric { get; set; } = "";

    /// <summary>Allowed relative change in the harmful direction (0.1: 10 %).</summary>
    public double Threshold { get; set; } = 0.1;

    /// <summary>
    /// True when an increase is the harm. Unset: true for every built-in guardrail metric, the opposite of the custom
    /// metric's <c>HigherIsBetter</c> for a custom one (cost figures: an increase is the harm).
    /// </summary>
    public bool? HigherIsWorse { get; set; }
}
