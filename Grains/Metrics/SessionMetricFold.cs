using System.Text.Json;
using SessionTracking.ReadModel;

namespace SessionTracking.Metrics;

/// <summary>
/// Folds a session's events, in the order the session accepted them (seq), into its row of custom metric values
/// (docs/custom-metrics.md, "Stored values"): one definition of every value, for the grain (each accepted event) and for a
/// backfill (stored events) alike. An event's data is parsed at most once, and only when some metric looks at its type.
/// </summary>
public sealed class SessionMetricFold
{
    /// <summary>The built-in cost metric (with a price table): cost of <c>model_response</c> events by <c>data.model</c>.</summary>
    public const string CostMetric = "cost";

    /// <summary>
    /// A numeric field counts when it is a finite JSON number with |x| ≤ 10¹² (money in cents, scores, durations in ms all
    /// fit): a value outside is stored as sent, left out of the figures and counted as excluded (the rule of the built-in
    /// figures, ValueBounds). With it no sum of squares comes near overflow: 10²⁴ per value, 10³⁹ over 10¹⁵ values.
    /// </summary>
    public const double MaxMagnitude = 1e12;

    private static readonly FieldPath Model = FieldPath.Parse("data.model", out _)!;
    private static readonly FieldPath InputTokens = FieldPath.Parse("data.input_tokens", out _)!;
    private static readonly FieldPath OutputTokens = FieldPath.Parse("data.output_tokens", out _)!;

    private readonly MetricSet _metrics;
    private readonly MetricValues _row;
    private readonly long _exposureMs;
    private readonly long _sessionStartMs;

    /// <summary>Event type → the metrics that look at it (a funnel once, whichever of its steps have the type).</summary>
    private readonly Dictionary<string, MetricDefinition[]> _byType;

    /// <param name="sessionStartMs">The session's start (server clock, Unix ms): decides a retention day.</param>
    /// <param name="exposureMs">
    /// The unit's first exposure: the session's own start when sessions are the unit, the start of the user's first session
    /// of the experiment when users are. Conversion windows and retention days count from it.
    /// </param>
    /// <param name="from">The row to continue from (a session reloaded by its grain); null for a new session.</param>
    public SessionMetricFold(MetricSet metrics, long sessionStartMs, long exposureMs, MetricValues? from = null)
    {
        _metrics = metrics;
        _sessionStartMs = sessionStartMs;
        _exposureMs = exposureMs;
        _row = from?.Copy() ?? new MetricValues(metrics);
        _byType = metrics.Definitions
            .SelectMany(d => (d.Steps ?? (d.Match is { } m ? [m] : [])).Select(s => (s.EventType, Definition: d)))
            .Distinct()
            .GroupBy(p => p.EventType, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.Select(p => p.Definition).ToArray(), StringComparer.Ordinal);

        // Retention without an event type counts the session itself, whatever it contains.
        foreach (var retention in metrics.Definitions.Where(d => d.Kind == MetricKind.Retention && d.Match is null))
        {
            MarkRetained(retention);
        }
    }

    public void Add(StoredEvent e) => Add(e.Type, e.DataJson, e.EventTime);

    /// <param name="timeMs">The event's time on the server's clock (<see cref="StoredEvent.EventTime"/>), for windows.</param>
    public void Add(string type, string dataJson, long timeMs)
    {
        var metrics = _byType.GetValueOrDefault(type);
        var priced = type == "model_response" && _metrics.Prices.Count > 0;
        if (metrics is null && !priced)
        {
            return; // clicks, scrolls…: no parse
        }

        using var document = Parse(dataJson);
        var data = document?.RootElement ?? default; // unreadable: every field missing
        foreach (var metric in metrics ?? [])
        {
            if (metric.Window is { } window && timeMs - _exposureMs >= (long)window.TotalMilliseconds)
            {
                continue;
            }

            if (metric.Kind == MetricKind.Funnel)
            {
                AdvanceFunnel(metric, type, data);
            }
            else if (metric.Match!.Where is null || metric.Match.Where.Matches(data))
            {
                Fold(metric, data);
            }
        }

        if (priced)
        {
            AddCost(data);
        }
    }

    public MetricValues Snapshot() => _row.Copy();

    private void Fold(MetricDefinition metric, JsonElement data)
    {
        var name = metric.Name;
        switch (metric.Kind)
        {
            case MetricKind.Count or MetricKind.Proportion:
                _row[name, "events"] += 1;
                break;
            case MetricKind.Retention:
                MarkRetained(metric);
                break;
            case MetricKind.Sum or MetricKind.Mean or MetricKind.Quantile:
                _row[name, "events"] += 1;
                if (ReadValue(name, metric.Field!, data) is { } value)
                {
                    _row[name, "values"] += 1;
                    if (metric.Kind == MetricKind.Quantile)
                    {
                        _row.Sketch(name).Add(value);
                    }
                    else
                    {
                        _row[name, "sum"] += value;
                        _row[name, "sum_squares"] += value * value;
                    }
                }

                break;
        }
    }

    /// <summary>The field's value, or null after counting why not: missing, ignored (not a number) or excluded (out of bounds).</summary>
    private double? ReadValue(string metric, FieldPath field, JsonElement data)
    {
        if (!field.TryResolve(data, out var element))
        {
            _row[metric, "missing"] += 1;
            return null;
        }

        if (element.ValueKind != JsonValueKind.Number)
        {
            _row[metric, "ignored"] += 1; // "5", true, null, [5], {…}: not a value, as for the built-in figures
            return null;
        }

        var value = Condition.NumberOf(element);
        if (double.IsFinite(value) && Math.Abs(value) <= MaxMagnitude)
        {
            return value;
        }

        _row[metric, "excluded"] += 1;
        return null;
    }

    /// <summary>A session starting on a day in [FromDay, ToDay] after the exposure is retained (day d = [d·24 h, (d + 1)·24 h)).</summary>
    private void MarkRetained(MetricDefinition retention)
    {
        var day = Math.Floor((_sessionStartMs - _exposureMs) / 86_400_000.0);
        if (day >= retention.FromDay && day <= retention.ToDay)
        {
            _row[retention.Name, "sessions"] = 1;
        }
    }

    /// <summary>Each event can take the session one step further, only the next one: a step is reached after the previous.</summary>
    private void AdvanceFunnel(MetricDefinition funnel, string type, JsonElement data)
    {
        var steps = funnel.Steps!;
        var reached = 0;
        while (reached < steps.Count && _row[funnel.Name, MetricSet.StepColumn(reached + 1)] > 0)
        {
            reached++;
        }

        if (reached < steps.Count && steps[reached].EventType == type && (steps[reached].Where?.Matches(data) ?? true))
        {
            _row[funnel.Name, MetricSet.StepColumn(reached + 1)] = 1;
        }
    }

    /// <summary>
    /// A response is priced when its data.model is a string in the price table and at least one of input_tokens and
    /// output_tokens is present (a missing one counts 0), each a JSON number within 0 ≤ x ≤ 10⁸ (ValueBounds.MaxTokens).
    /// A token count that is not a number, or no counts at all, or an unknown model: unpriced. A number out of bounds:
    /// unpriced and excluded.
    /// </summary>
    private void AddCost(JsonElement data)
    {
        _row[CostMetric, "responses"] += 1;
        var (inputState, input) = Tokens(InputTokens, data);
        var (outputState, output) = Tokens(OutputTokens, data);
        if (inputState == TokenState.OutOfBounds || outputState == TokenState.OutOfBounds)
        {
            _row[CostMetric, "excluded"] += 1;
            _row[CostMetric, "unpriced"] += 1;
            return;
        }

        if (!Model.TryResolve(data, out var model)
            || model.ValueKind != JsonValueKind.String
            || !_metrics.Prices.TryGetValue(model.GetString()!, out var price)
            || inputState == TokenState.NotNumber || outputState == TokenState.NotNumber
            || (inputState == TokenState.Missing && outputState == TokenState.Missing))
        {
            _row[CostMetric, "unpriced"] += 1;
            return;
        }

        var cost = price.CostOf(input, output);
        _row[CostMetric, "priced"] += 1;
        _row[CostMetric, "cost"] += cost;
        _row[CostMetric, "cost_squares"] += cost * cost;
    }

    private enum TokenState
    {
        Missing,
        Valid,
        NotNumber,
        OutOfBounds,
    }

    /// <summary>A token count and whether it is one; the value is 0 unless valid.</summary>
    private static (TokenState State, double Value) Tokens(FieldPath path, JsonElement data)
    {
        if (!path.TryResolve(data, out var element))
        {
            return (TokenState.Missing, 0);
        }

        if (element.ValueKind != JsonValueKind.Number)
        {
            return (TokenState.NotNumber, 0);
        }

        var value = Condition.NumberOf(element);
        return ValueBounds.Within(value, ValueBounds.MaxTokens) ? (TokenState.Valid, value) : (TokenState.OutOfBounds, 0);
    }

    private static JsonDocument? Parse(string json)
    {
        try
        {
            return JsonDocument.Parse(json);
        }
        catch (JsonException)
        {
            return null; // stored data is validated JSON; an unreadable legacy row has no fields
        }
    }
}
