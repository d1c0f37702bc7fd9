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

    // Column indices within a metric's columns (MetricSet's layouts).
    private const int Events = 0, Values = 1, Missing = 2, Ignored = 3, Excluded = 4, Sum = 5, SumSquares = 6;
    private const int CostResponses = 0, CostPriced = 1, CostSum = 2, CostSquares = 3, CostUnpriced = 4, CostExcluded = 5;

    private readonly double[] _values;
    private readonly int _cost;

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
        _values = _row.Raw;
        _cost = metrics.Prices.Count > 0 ? metrics.Offset(CostMetric) : -1;

        // Retention without an event type counts the session itself, whatever it contains.
        foreach (var retention in metrics.Definitions)
        {
            if (retention.Kind == MetricKind.Retention && retention.Match is null)
            {
                MarkRetained(retention, metrics.Offset(retention.Name));
            }
        }
    }

    /// <returns>Whether some metric looked at the event (its values may have changed); false for types no metric reads.</returns>
    public bool Add(StoredEvent e) => Add(e.Type, e.DataJson, e.EventTime);

    /// <param name="timeMs">The event's time on the server's clock (<see cref="StoredEvent.EventTime"/>), for windows.</param>
    public bool Add(string type, string dataJson, long timeMs)
    {
        var metrics = _metrics.ByEventType.GetValueOrDefault(type);
        var priced = type == "model_response" && _metrics.Prices.Count > 0;
        if (metrics is null && !priced)
        {
            return false; // clicks, scrolls…: no parse
        }

        using var document = Parse(dataJson);
        var data = document?.RootElement ?? default; // unreadable: every field missing
        foreach (var (metric, offset) in metrics ?? [])
        {
            if (metric.Window is { } window && timeMs - _exposureMs >= (long)window.TotalMilliseconds)
            {
                continue;
            }

            if (metric.Kind == MetricKind.Funnel)
            {
                AdvanceFunnel(metric, offset, type, data);
            }
            else if (metric.Match!.Where is null || metric.Match.Where.Matches(data))
            {
                Fold(metric, offset, data);
            }
        }

        if (priced)
        {
            AddCost(data);
        }

        return true;
    }

    public MetricValues Snapshot() => _row.Copy();

    private void Fold(MetricDefinition metric, int at, JsonElement data)
    {
        switch (metric.Kind)
        {
            case MetricKind.Count or MetricKind.Proportion:
                _values[at + Events] += 1;
                break;
            case MetricKind.Retention:
                MarkRetained(metric, at);
                break;
            case MetricKind.Sum or MetricKind.Mean or MetricKind.Quantile:
                _values[at + Events] += 1;
                if (ReadValue(at, metric.Field!, data) is { } value)
                {
                    _values[at + Values] += 1;
                    if (metric.Kind == MetricKind.Quantile)
                    {
                        _row.Sketch(metric.Name).Add(value);
                    }
                    else
                    {
                        _values[at + Sum] += value;
                        _values[at + SumSquares] += value * value;
                    }
                }

                break;
        }
    }

    /// <summary>The field's value, or null after counting why not: missing, ignored (not a number) or excluded (out of bounds).</summary>
    private double? ReadValue(int at, FieldPath field, JsonElement data)
    {
        if (!field.TryResolve(data, out var element))
        {
            _values[at + Missing] += 1;
            return null;
        }

        if (element.ValueKind != JsonValueKind.Number)
        {
            _values[at + Ignored] += 1; // "5", true, null, [5], {…}: not a value, as for the built-in figures
            return null;
        }

        var value = Condition.NumberOf(element);
        if (double.IsFinite(value) && Math.Abs(value) <= MaxMagnitude)
        {
            return value;
        }

        _values[at + Excluded] += 1;
        return null;
    }

    /// <summary>A session starting on a day in [FromDay, ToDay] after the exposure is retained (day d = [d·24 h, (d + 1)·24 h)).</summary>
    private void MarkRetained(MetricDefinition retention, int at)
    {
        var day = Math.Floor((_sessionStartMs - _exposureMs) / 86_400_000.0);
        if (day >= retention.FromDay && day <= retention.ToDay)
        {
            _values[at] = 1;
        }
    }

    /// <summary>Each event can take the session one step further, only the next one: a step is reached after the previous.</summary>
    private void AdvanceFunnel(MetricDefinition funnel, int at, string type, JsonElement data)
    {
        var steps = funnel.Steps!;
        var reached = 0;
        while (reached < steps.Count && _values[at + reached] > 0)
        {
            reached++;
        }

        if (reached < steps.Count && steps[reached].EventType == type && (steps[reached].Where?.Matches(data) ?? true))
        {
            _values[at + reached] = 1;
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
        _values[_cost + CostResponses] += 1;
        var (inputState, input) = Tokens(InputTokens, data);
        var (outputState, output) = Tokens(OutputTokens, data);
        if (inputState == TokenState.OutOfBounds || outputState == TokenState.OutOfBounds)
        {
            _values[_cost + CostExcluded] += 1;
            _values[_cost + CostUnpriced] += 1;
            return;
        }

        if (!Model.TryResolve(data, out var model)
            || model.ValueKind != JsonValueKind.String
            || !_metrics.Prices.TryGetValue(model.GetString()!, out var price)
            || inputState == TokenState.NotNumber || outputState == TokenState.NotNumber
            || (inputState == TokenState.Missing && outputState == TokenState.Missing))
        {
            _values[_cost + CostUnpriced] += 1;
            return;
        }

        var cost = price.CostOf(input, output);
        _values[_cost + CostPriced] += 1;
        _values[_cost + CostSum] += cost;
        _values[_cost + CostSquares] += cost * cost;
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
