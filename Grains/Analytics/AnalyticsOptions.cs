using System.ComponentModel.DataAnnotations;

namespace SessionTracking.Analytics;

/// <summary>
/// Section <c>Analytics</c>. The intended split of an experiment, e.g.
/// <c>Analytics:Experiments:checkout-2024:Split:gpt-4=1</c> and <c>...:Split:claude-3=1</c> for 50/50.
/// </summary>
public sealed class AnalyticsOptions : IValidatableObject
{
    public const string SectionName = "Analytics";

    public Dictionary<string, ExperimentOptions> Experiments { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Bootstrap resamples for the latency/duration intervals.</summary>
    [Range(100, 100_000)]
    public int BootstrapResamples { get; set; } = 2000;

    /// <summary>Seed of the bootstrap generator: the same data always gives the same interval.</summary>
    public int BootstrapSeed { get; set; } = 20241027;

    /// <summary>Values per group the bootstrap resamples (an evenly spaced sketch of the sorted values when there are more).</summary>
    [Range(100, 1_000_000)]
    public int BootstrapSampleSize { get; set; } = 5000;

    /// <summary>SRM alarm threshold on the chi-square p-value (0.001 is the usual choice: SRM checks run often).</summary>
    [Range(1e-9, 0.5)]
    public double SampleRatioAlpha { get; set; } = 0.001;

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        foreach (var (experiment, options) in Experiments)
        {
            if (options.Split.Count < 2 || options.Split.Values.Any(w => !(w > 0) || double.IsInfinity(w)))
            {
                yield return new ValidationResult(
                    $"Analytics:Experiments:{experiment}:Split needs at least two groups with positive weights.",
                    [nameof(Experiments)]);
            }
        }
    }
}

public sealed class ExperimentOptions
{
    /// <summary>model_group → relative weight.</summary>
    public Dictionary<string, double> Split { get; set; } = new(StringComparer.Ordinal);
}
