using System.Text.RegularExpressions;
using SessionTracking.Analytics;
using SessionTracking.ReadModel;

namespace SessionTracking.Metrics;

/// <summary>The outcome of validating the configured metrics: the set when there is no error, else every error.</summary>
public sealed record MetricValidation(MetricSet? Metrics, IReadOnlyList<string> Errors);

/// <summary>
/// Turns <c>Analytics:Metrics</c> and <c>Analytics:Prices</c> into definitions, or into errors that each name the setting
/// at fault (<c>Analytics:Metrics:rating:Field …</c>) so that start-up can stop with them. A setting the metric's kind does
/// not use is an error too: nothing configured is silently ignored.
/// </summary>
public static partial class MetricValidator
{
    /// <summary>Names the report and configuration already use for built-in figures; a custom metric may not take one.</summary>
    public static readonly IReadOnlySet<string> BuiltInNames = new HashSet<string>(
        AnalyticsOptions.ComparedMetrics
            .Concat(AnalyticsOptions.GuardrailMetrics)
            .Concat(ExperimentDecisions.Ratios.Keys)
            .Concat(MetricFields.Columns)
            .Concat([
                "units", "sessions", "ended_sessions", "duration_ms", "latency_ms", "time_to_first_token_ms", "prompts",
                "responses", "prompts_per_session", "tokens_per_response", "excluded_values", "feedback", "up_rate",
                "down_rate", "neutral_rate", "implicit", "copies", "selections", "copies_per_response", "sessions_with_copy",
                "sessions_with_selection", "errors", "errors_per_session", "stopped", "stopped_rate",
                SessionMetricFold.CostMetric, "cost_per_response", "cost_per_unit", "cost_per_session", "cost_per_user",
            ]),
        StringComparer.Ordinal);

    private static readonly MetricKind[] RatioParts = [MetricKind.Count, MetricKind.Sum, MetricKind.Proportion];

    public static MetricValidation Validate(
        IReadOnlyDictionary<string, MetricOptions> metrics,
        IReadOnlyDictionary<string, ModelPriceOptions>? prices = null)
    {
        var errors = new List<string>();
        var definitions = new List<MetricDefinition>();
        foreach (var (name, options) in metrics.OrderBy(m => m.Key, StringComparer.Ordinal))
        {
            if (Validate(name, options, errors) is { } definition)
            {
                definitions.Add(definition);
            }
        }

        // Ratios refer to other metrics: checked once every name is known.
        var byName = definitions.ToDictionary(d => d.Name, StringComparer.Ordinal);
        foreach (var ratio in definitions.Where(d => d.Kind == MetricKind.Ratio))
        {
            foreach (var (setting, part) in new[] { ("Numerator", ratio.Numerator!), ("Denominator", ratio.Denominator!) })
            {
                if (part == ratio.Name)
                {
                    errors.Add($"{Key(ratio.Name, setting)} names the ratio itself.");
                }
                else if (!byName.TryGetValue(part, out var target))
                {
                    errors.Add($"{Key(ratio.Name, setting)} names '{part}', which is not a defined metric{(metrics.ContainsKey(part) ? " (its definition has errors)" : "")}.");
                }
                else if (!RatioParts.Contains(target.Kind))
                {
                    errors.Add($"{Key(ratio.Name, setting)} names '{part}', a {Lower(target.Kind)} metric; a ratio's parts are count, sum or proportion metrics (a unit total).");
                }
                else if (target.Cap?.Percentile is not null)
                {
                    errors.Add($"{Key(ratio.Name, setting)} names '{part}', which is capped at a percentile; a ratio's parts may be capped at a value only (CapValue), since the report cannot cap two parts of one unit from their separate distributions.");
                }
            }
        }

        var priceTable = ValidatePrices(prices ?? new Dictionary<string, ModelPriceOptions>(), errors);
        return errors.Count > 0 ? new MetricValidation(null, errors) : new MetricValidation(new MetricSet(definitions, priceTable), []);
    }

    private static MetricDefinition? Validate(string name, MetricOptions o, List<string> errors)
    {
        var before = errors.Count;
        if (!NamePattern().IsMatch(name))
        {
            errors.Add($"Analytics:Metrics:{name} is not a metric name: lower-case letter first, then up to 63 of a-z, 0-9 and _ (^[a-z][a-z0-9_]{{0,63}}$).");
        }
        else if (BuiltInNames.Contains(name))
        {
            errors.Add($"Analytics:Metrics:{name} collides with the built-in metric '{name}'; choose another name.");
        }

        // By name only: Enum.TryParse would also take "1" and "count,sum".
        var kindName = Enum.GetNames<MetricKind>().FirstOrDefault(k => string.Equals(k, o.Kind?.Trim(), StringComparison.OrdinalIgnoreCase));
        if (kindName is null)
        {
            errors.Add($"{Key(name, "Kind")} must be one of {string.Join(", ", Enum.GetNames<MetricKind>().Select(k => k.ToLowerInvariant()))}{(o.Kind is null ? "; it is missing" : $", not '{o.Kind}'")}.");
            return null;
        }

        var kind = Enum.Parse<MetricKind>(kindName);

        void Unused(string setting, bool isSet)
        {
            if (isSet)
            {
                errors.Add($"{Key(name, setting)} is not used by a {Lower(kind)} metric; remove it.");
            }
        }

        EventMatch? match = null;
        var usesEvent = kind is not (MetricKind.Ratio or MetricKind.Funnel);
        if (!usesEvent)
        {
            Unused("EventType", o.EventType is not null);
            Unused("Where", o.Where is not null);
        }
        else if (o.EventType is null)
        {
            if (kind != MetricKind.Retention)
            {
                errors.Add($"{Key(name, "EventType")} is required for a {Lower(kind)} metric.");
            }

            Unused("Where", o.Where is not null); // a condition on no event: retention without EventType counts sessions
        }
        else
        {
            match = ParseMatch(o.EventType, o.Where, Key(name, "EventType"), Key(name, "Where"), errors);
        }

        FieldPath? field = null;
        if (kind is MetricKind.Sum or MetricKind.Mean or MetricKind.Quantile)
        {
            field = o.Field is null ? Missing<FieldPath>(errors, Key(name, "Field"), kind) : FieldPath.Parse(o.Field, out var error) ?? Error<FieldPath>(errors, $"{Key(name, "Field")}: {error}.");
        }
        else
        {
            Unused("Field", o.Field is not null);
        }

        if (kind is not (MetricKind.Sum or MetricKind.Mean))
        {
            Unused("PerEvent", o.PerEvent is not null);
        }

        if (kind == MetricKind.Ratio)
        {
            if (string.IsNullOrWhiteSpace(o.Numerator))
            {
                errors.Add($"{Key(name, "Numerator")} is required for a ratio metric: the name of a count, sum or proportion metric.");
            }

            if (string.IsNullOrWhiteSpace(o.Denominator))
            {
                errors.Add($"{Key(name, "Denominator")} is required for a ratio metric: the name of a count, sum or proportion metric.");
            }
        }
        else
        {
            Unused("Numerator", o.Numerator is not null);
            Unused("Denominator", o.Denominator is not null);
        }

        if (kind == MetricKind.Quantile)
        {
            if (o.Quantile is not (> 0 and < 1))
            {
                errors.Add($"{Key(name, "Quantile")} must be strictly between 0 and 1 (0.95 for p95){(o.Quantile is null ? "; it is missing" : $", not {o.Quantile}")}.");
            }
        }
        else
        {
            Unused("Quantile", o.Quantile is not null);
        }

        if (kind == MetricKind.Retention)
        {
            if (o.FromDay is not { } from || from < 0 || from > 3650)
            {
                errors.Add($"{Key(name, "FromDay")} must be a whole number of days from 0 to 3650.");
            }
            else if (o.ToDay is not { } to || to < 0 || to > 3650)
            {
                errors.Add($"{Key(name, "ToDay")} must be a whole number of days from 0 to 3650.");
            }
            else if (from > to)
            {
                errors.Add($"{Key(name, "FromDay")} ({from}) is after {Key(name, "ToDay")} ({to}).");
            }

            Unused("WindowHours", o.WindowHours is not null); // the day range is the window
        }
        else
        {
            Unused("FromDay", o.FromDay is not null);
            Unused("ToDay", o.ToDay is not null);
        }

        List<EventMatch>? steps = null;
        if (kind == MetricKind.Funnel)
        {
            if (o.Steps.Count < 2)
            {
                errors.Add($"{Key(name, "Steps")} needs at least two steps (Steps:0, Steps:1, …), not {o.Steps.Count}.");
            }

            steps = [];
            for (var i = 0; i < o.Steps.Count; i++)
            {
                var key = Key(name, $"Steps:{i}");
                var parts = o.Steps[i].Split(" where ", 2, StringSplitOptions.TrimEntries);
                if (ParseMatch(parts[0], parts.Length > 1 ? parts[1] : null, key, key, errors) is { } step)
                {
                    steps.Add(step);
                }
            }
        }
        else
        {
            Unused("Steps", o.Steps.Count > 0);
        }

        TimeSpan? window = null;
        if (kind is MetricKind.Ratio)
        {
            Unused("WindowHours", o.WindowHours is not null); // the parts' windows apply
        }
        else if (o.WindowHours is { } hours && kind != MetricKind.Retention)
        {
            if (!(hours > 0 && hours <= 24 * 3650))
            {
                errors.Add($"{Key(name, "WindowHours")} must be more than 0 and at most 87600 hours (10 years), not {hours}.");
            }
            else
            {
                window = TimeSpan.FromHours(hours);
            }
        }

        Capping? cap = null;
        if (o.CapValue is not null || o.CapPercentile is not null)
        {
            var capped = kind is MetricKind.Count or MetricKind.Sum || (kind == MetricKind.Mean && o.PerEvent != true);
            if (!capped)
            {
                errors.Add($"{Key(name, o.CapValue is not null ? "CapValue" : "CapPercentile")}: capping winsorizes a unit's count, sum or mean; a {(kind == MetricKind.Mean ? "mean per event" : Lower(kind))} metric has no such value to cap.");
            }
            else if (o.CapValue is not null && o.CapPercentile is not null)
            {
                errors.Add($"{Key(name, "CapValue")} and {Key(name, "CapPercentile")} are both set; cap at a value or at a percentile, not both.");
            }
            else if (o.CapValue is { } value && !double.IsFinite(value))
            {
                errors.Add($"{Key(name, "CapValue")} must be a finite number, not {value}.");
            }
            else if (o.CapPercentile is { } p && p is not (> 0 and < 1))
            {
                errors.Add($"{Key(name, "CapPercentile")} must be strictly between 0 and 1 (0.99 caps at the units' 99th percentile), not {p}.");
            }
            else
            {
                cap = new Capping(o.CapValue, o.CapPercentile);
            }
        }

        if (errors.Count > before)
        {
            return null;
        }

        return new MetricDefinition(
            name, kind, match, field, o.PerEvent ?? false, o.Numerator?.Trim(), o.Denominator?.Trim(), o.Quantile, o.FromDay, o.ToDay,
            steps, window, cap, o.HigherIsBetter ?? true);
    }

    private static EventMatch? ParseMatch(string eventType, string? where, string typeKey, string whereKey, List<string> errors)
    {
        var ok = true;
        if (!EventTypePattern().IsMatch(eventType))
        {
            errors.Add($"{typeKey}: '{eventType}' is not an event type (a letter, then up to 63 of A-Z, a-z, 0-9, _ . : -).");
            ok = false;
        }

        Condition? condition = null;
        if (where is not null)
        {
            condition = Condition.Parse(where, out var error);
            if (condition is null)
            {
                errors.Add($"{whereKey}: {error}.");
                ok = false;
            }
        }

        return ok ? new EventMatch(eventType, condition) : null;
    }

    private static Dictionary<string, ModelPrice> ValidatePrices(IReadOnlyDictionary<string, ModelPriceOptions> prices, List<string> errors)
    {
        var table = new Dictionary<string, ModelPrice>(StringComparer.Ordinal);
        foreach (var (key, price) in prices.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            var model = price.Model ?? key;
            var valid = true;
            foreach (var (setting, value) in new[] { ("InputPerMillion", price.InputPerMillion), ("OutputPerMillion", price.OutputPerMillion) })
            {
                if (value is not { } v || !(v >= 0) || !double.IsFinite(v))
                {
                    errors.Add($"Analytics:Prices:{key}:{setting} must be a finite price ≥ 0{(value is null ? "; it is missing" : $", not {value}")}.");
                    valid = false;
                }
            }

            if (!table.TryAdd(model, new ModelPrice(price.InputPerMillion ?? 0, price.OutputPerMillion ?? 0)))
            {
                errors.Add($"Analytics:Prices:{key}:Model names '{model}', which another price already names.");
            }
            else if (!valid)
            {
                table.Remove(model);
            }
        }

        return table;
    }

    private static string Key(string name, string setting) => $"Analytics:Metrics:{name}:{setting}";

    private static string Lower(MetricKind kind) => kind.ToString().ToLowerInvariant();

    private static T? Missing<T>(List<string> errors, string key, MetricKind kind)
        where T : class => Error<T>(errors, $"{key} is required for a {Lower(kind)} metric (e.g. data.amount).");

    private static T? Error<T>(List<string> errors, string message)
        where T : class
    {
        errors.Add(message);
        return null;
    }

    [GeneratedRegex("^[a-z][a-z0-9_]{0,63}$")]
    private static partial Regex NamePattern();

    // The gateway's rule for event types (Gateway/Http/WireLimits.EventTypePattern): a type no event can have is a typo.
    [GeneratedRegex("^[A-Za-z][A-Za-z0-9_.:-]{0,63}$")]
    private static partial Regex EventTypePattern();
}
