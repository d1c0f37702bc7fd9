using System.Text.Json;
using SessionTracking.Metrics;
using SessionTracking.Telemetry;

namespace SessionTracking.ReadModel;

/// <summary>
/// Folds events into a session's figures. The one definition of every per-session figure: the grain runs it on each
/// accepted event, and the stores' backfill runs it over stored events, so both can only agree.
/// </summary>
public sealed class SessionSummaryBuilder
{
    private readonly double[] _values;
    private readonly bool _countsExclusions;
    private readonly CustomRow? _storedCustom;
    private readonly CustomMetricContext? _context;
    private SessionMetricFold? _custom;
    private List<string> _missing = [];

    /// <param name="from">The row to continue from.</param>
    /// <param name="countsExclusions">
    /// Whether excluded values go to the <see cref="SessionMetrics.ValuesExcluded"/> counter: true where accepted events
    /// are folded (the grain), false where stored events are folded again (backfills, a report's edge hours), which would
    /// count them a second time.
    /// </param>
    /// <param name="custom">The custom metrics to fold beside the built-in figures; null keeps the stored custom values as they are.</param>
    public SessionSummaryBuilder(SessionSummary from, bool countsExclusions = true, CustomMetricContext? custom = null)
    {
        _values = from.Values.ToArray();
        ThroughSeq = from.ThroughSeq;
        _countsExclusions = countsExclusions;
        _storedCustom = from.Custom;
        _context = custom is { Metrics.StoredMetrics.Count: > 0 } ? custom : null;
        if (_context is not null)
        {
            var values = from.Custom?.ToValues(_context.Metrics, out _missing);
            if (from.Custom is null)
            {
                _missing = [.. _context.Metrics.StoredMetrics];
            }

            _custom = new SessionMetricFold(_context.Metrics, _context.SessionStartMs, _context.ExposureMs, values);
        }
    }

    public long ThroughSeq { get; private set; }

    /// <summary>
    /// Custom metrics the stored row had no values of (defined after the session's first events were stored): the caller
    /// folds the session's stored events with <see cref="FoldMissing"/> before any new one.
    /// </summary>
    public IReadOnlyList<string> MissingMetrics => _missing;

    /// <summary>
    /// Takes the <see cref="MissingMetrics"/> from <paramref name="storedEvents"/> (all the session's stored events, in
    /// order); the metrics the row had keep their stored values.
    /// </summary>
    public void FoldMissing(IEnumerable<StoredEvent> storedEvents)
    {
        if (_context is null || _custom is null || _missing.Count == 0)
        {
            return;
        }

        var fresh = new SessionMetricFold(_context.Metrics, _context.SessionStartMs, _context.ExposureMs);
        foreach (var e in storedEvents)
        {
            fresh.Add(e);
        }

        var merged = _custom.Snapshot();
        merged.CopyFrom(fresh.Snapshot(), _missing);
        _custom = new SessionMetricFold(_context.Metrics, _context.SessionStartMs, _context.ExposureMs, merged);
        _missing = [];
    }

    public bool Ended => _values[(int)MetricField.Ended] > 0;

    /// <summary>
    /// Counts the event; its latency and TTFT values go to <paramref name="samples"/> for the percentile sketches. Only an
    /// event that changes a figure moves <see cref="ThroughSeq"/> (the summary's version): a flush of interactions alone
    /// (clicks, scrolls…) leaves the summary as it was and writes nothing to the read model.
    /// </summary>
    public void Add(StoredEvent e, List<MetricSample> samples)
    {
        if (_custom is not null && _custom.Add(e))
        {
            ThroughSeq = e.Seq;
        }

        switch (e.Type)
        {
            case "prompt":
                Increment(MetricField.Prompts);
                break;
            case "model_response":
                Increment(MetricField.Responses);
                AddResponse(e.DataJson, samples);
                break;
            case "feedback":
                Increment(MetricField.Feedback);
                Increment(FeedbackField(e.DataJson));
                break;
            case "copy":
                Increment(MetricField.Copies);
                _values[(int)MetricField.SessionsWithCopy] = 1;
                break;
            case "selection":
                Increment(MetricField.Selections);
                _values[(int)MetricField.SessionsWithSelection] = 1;
                break;
            case "error":
                Increment(MetricField.Errors);
                break;
            default:
                return;
        }

        ThroughSeq = e.Seq;
    }

    public void End(DateTimeOffset startTime, DateTimeOffset endTime, List<MetricSample> samples)
    {
        if (Ended)
        {
            return;
        }

        var duration = (double)(endTime.ToUnixTimeMilliseconds() - startTime.ToUnixTimeMilliseconds());
        _values[(int)MetricField.Ended] = 1;
        _values[(int)MetricField.DurationMs] = duration;
        samples.Add(new MetricSample(QuantileMetric.DurationMs, duration));
    }

    public SessionSummary Snapshot() =>
        new(ThroughSeq, _values.ToArray(), _custom is null ? _storedCustom : CustomRow.Of(_context!.Metrics, _custom.Snapshot(), _storedCustom));

    /// <summary>
    /// <paramref name="unchanged"/> itself when no figure moved since it (same version: only an event that changes a
    /// figure moves <see cref="ThroughSeq"/>, only an end sets <see cref="Ended"/>) and it has every custom metric, else a
    /// new snapshot. For a builder that started from <paramref name="unchanged"/> or from an earlier version of the same row.
    /// </summary>
    public SessionSummary SnapshotSince(SessionSummary unchanged) =>
        ThroughSeq == unchanged.ThroughSeq && Ended == unchanged.Ended && !LacksCustom(unchanged) ? unchanged : Snapshot();

    /// <summary>Whether <paramref name="stored"/> lacks a custom metric this builder folds (so writing it adds the session to that metric).</summary>
    private bool LacksCustom(SessionSummary stored) =>
        _context is not null && (stored.Custom is not { } row || _context.Metrics.StoredMetrics.Any(m => !row.Has(_context.Metrics.KeyOf(m))));

    private void AddResponse(string dataJson, List<MetricSample> samples)
    {
        // Fields count only when they are JSON numbers (true is not 1), as SQLite's json_type and MongoDB's $isNumber,
        // and only within their bounds (ValueBounds): a number outside is excluded and counted.
        using var document = Parse(dataJson);
        if (document is null || document.RootElement.ValueKind != JsonValueKind.Object)
        {
            return;
        }

        var data = document.RootElement;
        if (TryNumber(data, "latency_ms", ValueBounds.MaxLatencyMs, out var latency))
        {
            AddValue(MetricField.LatencyCount, MetricField.LatencySum, MetricField.LatencySumSquares, latency);
            samples.Add(new MetricSample(QuantileMetric.LatencyMs, latency));
        }

        if (TryNumber(data, "ttft_ms", ValueBounds.MaxLatencyMs, out var ttft))
        {
            AddValue(MetricField.TtftCount, MetricField.TtftSum, MetricField.TtftSumSquares, ttft);
            samples.Add(new MetricSample(QuantileMetric.TimeToFirstTokenMs, ttft));
        }

        if (TryNumber(data, "tokens", ValueBounds.MaxTokens, out var tokens))
        {
            Increment(MetricField.TokensCount);
            _values[(int)MetricField.TokensSum] += tokens;
        }

        if (data.TryGetProperty("stopped", out var stopped) && stopped.ValueKind == JsonValueKind.True)
        {
            Increment(MetricField.Stopped);
        }
    }

    private void AddValue(MetricField count, MetricField sum, MetricField squares, double value)
    {
        _values[(int)count] += 1;
        _values[(int)sum] += value;
        _values[(int)squares] += value * value;
    }

    private static MetricField FeedbackField(string dataJson)
    {
        using var document = Parse(dataJson);
        if (document is not null
            && document.RootElement.ValueKind == JsonValueKind.Object
            && document.RootElement.TryGetProperty("feedback", out var value)
            && value.ValueKind == JsonValueKind.String)
        {
            switch (value.GetString())
            {
                case "up":
                    return MetricField.FeedbackUp;
                case "down":
                    return MetricField.FeedbackDown;
                case "neutral":
                    return MetricField.FeedbackNeutral;
            }
        }

        return MetricField.FeedbackOther;
    }

    /// <summary>
    /// True for a JSON number within [0, <paramref name="max"/>]. A JSON number outside (1e308, -1, or 1e400, which no
    /// double holds) is excluded: counted in <see cref="MetricField.ExcludedValues"/>, and false. Anything else (a string,
    /// a boolean, null, missing) is not a value at all: false, uncounted, as before.
    /// </summary>
    private bool TryNumber(JsonElement data, string name, double max, out double value)
    {
        value = 0;
        if (!data.TryGetProperty(name, out var element) || element.ValueKind != JsonValueKind.Number)
        {
            return false;
        }

        if (element.TryGetDouble(out var number) && ValueBounds.Within(number, max))
        {
            value = number;
            return true;
        }

        Increment(MetricField.ExcludedValues);
        if (_countsExclusions)
        {
            SessionMetrics.ValuesExcluded.Add(1, new KeyValuePair<string, object?>("field", name));
        }

        return false;
    }

    private static JsonDocument? Parse(string json)
    {
        try
        {
            return JsonDocument.Parse(json);
        }
        catch (JsonException)
        {
            return null; // stored data is validated JSON; an unreadable legacy row counts as an event without fields
        }
    }

    private void Increment(MetricField field) => _values[(int)field] += 1;
}
