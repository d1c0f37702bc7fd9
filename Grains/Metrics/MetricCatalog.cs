using Microsoft.Extensions.Options;
using SessionTracking.Analytics;

namespace SessionTracking.Metrics;

/// <summary>
/// The custom metrics of this silo (<c>Analytics:Metrics</c>, <c>Analytics:Prices</c>), validated once: what the session
/// grains fold, the stores aggregate and the report reads. Every silo of a cluster must run the same definitions
/// (docs/custom-metrics.md, "Changing a definition").
/// </summary>
public sealed class MetricCatalog
{
    private readonly AnalyticsOptions _options;

    public MetricCatalog(IOptions<AnalyticsOptions> options)
    {
        _options = options.Value;
        var validation = MetricValidator.Validate(_options.Metrics, _options.Prices);
        Set = validation.Metrics ?? throw new OptionsValidationException(AnalyticsOptions.SectionName, typeof(AnalyticsOptions), validation.Errors);
    }

    /// <summary>A catalog without metrics (tests, tools).</summary>
    public static MetricCatalog None { get; } = new(Options.Create(new AnalyticsOptions()));

    public MetricSet Set { get; }

    public bool IsEmpty => Set.StoredMetrics.Count == 0;

    /// <summary>Whether some metric counts from the unit's first exposure (a window, or retention days).</summary>
    public bool UsesExposure => Set.Definitions.Any(d => d.Window is not null || d.Kind == MetricKind.Retention);

    /// <summary>The pre-period of CUPED's covariate; zero when CUPED is off.</summary>
    public TimeSpan CupedPrePeriod => TimeSpan.FromDays(_options.CupedPreDays);

    /// <summary>Whether users of the experiment get a CUPED covariate: users are its unit and CUPED is on.</summary>
    public bool UsesCovariate(string experimentId) => !IsEmpty && _options.CupedPreDays > 0 && UnitOf(experimentId) == AnalysisUnit.User;

    /// <summary>The experiment's unit: its configured one, else sessions (as the report's default).</summary>
    public AnalysisUnit UnitOf(string experimentId) =>
        _options.Experiments.TryGetValue(experimentId, out var experiment) ? experiment.Unit : AnalysisUnit.Session;
}

/// <summary>Stops start-up on a bad metric definition or price, with every error naming its setting.</summary>
public sealed class MetricOptionsValidation : IValidateOptions<AnalyticsOptions>
{
    public ValidateOptionsResult Validate(string? name, AnalyticsOptions options)
    {
        var validation = MetricValidator.Validate(options.Metrics, options.Prices);
        return validation.Errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(validation.Errors);
    }
}

/// <summary>
/// What a session's custom metrics are folded with: the set, the session's start and the unit's first exposure (the
/// session's own start when sessions are the unit, the user's first session of the experiment when users are).
/// </summary>
public sealed record CustomMetricContext(MetricSet Metrics, long SessionStartMs, long ExposureMs);
