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

    /// <summary>
    /// The unit the experiment randomises, hence its reports' unit: <c>User</c> (the default: assignment hashes the user id)
    /// or <c>Session</c> (the client picks a group per session).
    /// </summary>
    public AnalysisUnit Unit { get; set; } = AnalysisUnit.User;
}
