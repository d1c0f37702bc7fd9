using SessionTracking.ReadModel;

namespace SessionTracking.Metrics;

/// <summary>
/// The validated metrics and price table, and where each metric's stored values lie in a row of
/// <see cref="MetricValues"/>. Every column is a sum over events (or a 0/1 per session), so a user's row is the sum of its
/// sessions' rows and the store can aggregate rows like the built-in figures (docs/custom-metrics.md, "Stored values").
/// </summary>
public sealed class MetricSet
{
    /// <summary>The built-in cost metric's columns, present when a price table is configured.</summary>
    public const string CostMetric = SessionMetricFold.CostMetric;

    private static readonly string[] CountColumns = ["events"];
    // Sum and quantile share their first five columns, so the fold reads a value the same way for both.
    private static readonly string[] SumColumns = ["events", "values", "missing", "ignored", "excluded", "sum", "sum_squares"];
    private static readonly string[] QuantileColumns = ["events", "values", "missing", "ignored", "excluded"];
    private static readonly string[] RetentionColumns = ["sessions"];
    private static readonly string[] CostColumns = ["responses", "priced", "cost", "cost_squares", "unpriced", "excluded"];

    private readonly Dictionary<string, (int Offset, string[] Columns)> _slots = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _storageHashes;
    private readonly Dictionary<string, string> _keys;

    public MetricSet(IReadOnlyList<MetricDefinition> definitions, IReadOnlyDictionary<string, ModelPrice> prices)
    {
        Definitions = definitions;
        Prices = prices;
        ByName = definitions.ToDictionary(d => d.Name, StringComparer.Ordinal);
        foreach (var definition in definitions)
        {
            Allocate(definition.Name, ColumnsOf(definition));
        }

        if (prices.Count > 0)
        {
            Allocate(CostMetric, CostColumns);
        }

        // Once per set, not per session: which metrics look at each event type (a funnel once, whichever steps have it).
        ByEventType = definitions
            .SelectMany(d => (d.Steps ?? (d.Match is { } m ? [m] : [])).Select(s => (s.EventType, Definition: d)))
            .Distinct()
            .GroupBy(p => p.EventType, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.Select(p => (p.Definition, Offset(p.Definition.Name))).ToArray(), StringComparer.Ordinal);

        // Keys are SHA-256 hashes, read on every flush for every metric: computed once per set.
        _storageHashes = definitions.ToDictionary(d => d.Name, d => ComputeStorageHash(d.Name), StringComparer.Ordinal);
        _keys = definitions.ToDictionary(d => d.Name, d => ComputeKey(d.Name), StringComparer.Ordinal);
    }

    /// <summary>Event type → the metrics that look at it, each with the offset of its columns.</summary>
    internal IReadOnlyDictionary<string, (MetricDefinition Definition, int Offset)[]> ByEventType { get; }

    public IReadOnlyList<MetricDefinition> Definitions { get; }

    public IReadOnlyDictionary<string, MetricDefinition> ByName { get; }

    public IReadOnlyDictionary<string, ModelPrice> Prices { get; }

    /// <summary>Length of a row.</summary>
    public int Width { get; private set; }

    public IReadOnlyList<string> ColumnsOf(string metric) => _slots[metric].Columns;

    /// <summary>Index of <paramref name="metric"/>'s first column in a row; the others follow in <see cref="ColumnsOf"/>'s order.</summary>
    public int Offset(string metric) => _slots.TryGetValue(metric, out var slot) ? slot.Offset : throw new KeyNotFoundException($"No metric '{metric}'.");

    /// <summary>Index of <paramref name="column"/> of <paramref name="metric"/> in a row.</summary>
    public int Slot(string metric, string column)
    {
        var (offset, columns) = _slots.TryGetValue(metric, out var slot) ? slot : throw new KeyNotFoundException($"No metric '{metric}'.");
        var index = Array.IndexOf(columns, column);
        return index >= 0 ? offset + index : throw new KeyNotFoundException($"Metric '{metric}' has no column '{column}'.");
    }

    public static string StepColumn(int step) => $"step_{step}";

    /// <summary>Every metric with stored values, in definition order, and the cost metric with a price table.</summary>
    public IReadOnlyList<string> StoredMetrics => _stored ??= [.. Definitions.Select(d => d.Name), .. Prices.Count > 0 ? [CostMetric] : Array.Empty<string>()];

    private IReadOnlyList<string>? _stored;

    /// <summary>
    /// The key of a metric's slice in a stored row (<see cref="CustomRow"/>) and of its aggregates: a hash of its name, its
    /// <see cref="StorageHash"/> and the caps at a value its aggregates apply (its own, and a ratio's parts'); for the
    /// cost metric a hash of the price table. A renamed or changed definition, value cap or price is a new key, folded
    /// afresh. A cap at a percentile is not in it: the report applies that one, from the unit values' bins.
    /// </summary>
    public string KeyOf(string metric) =>
        metric == CostMetric ? CostHash : _keys.TryGetValue(metric, out var key) ? key : throw new KeyNotFoundException($"No metric '{metric}'.");

    private string ComputeKey(string metric)
    {
        var definition = ByName[metric];
        var caps = definition.Kind == MetricKind.Ratio
            ? $"{ValueCap(ByName[definition.Numerator!])}/{ValueCap(ByName[definition.Denominator!])}"
            : ValueCap(definition);
        // The name is in the key: two metrics with the same definition (one capped at a percentile, say) keep separate
        // aggregates, which the report reads and caps separately.
        return Hash16(caps.Trim('/').Length == 0 ? $"{metric}|{StorageHash(metric)}" : $"{metric}|{StorageHash(metric)}|cap {caps}");
    }

    /// <summary>First 16 hex digits of the SHA-256 of the price table, sorted by model.</summary>
    public string CostHash => _costHash ??= Hash16(string.Join(
        ";",
        Prices.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{p.Key}={p.Value.InputPerMillion:R}/{p.Value.OutputPerMillion:R}"))));

    private string? _costHash;

    private static string ValueCap(MetricDefinition definition) =>
        definition.Cap?.Value is { } value ? value.ToString("R", System.Globalization.CultureInfo.InvariantCulture) : "";

    internal static string Hash16(string text) =>
        Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(text)))[..16];

    /// <summary>
    /// The key of <paramref name="metric"/>'s stored values and aggregates: its definition's hash, and for a ratio the hash
    /// of its own text with its parts' hashes, so that changing a part also renews the ratio's aggregates.
    /// </summary>
    public string StorageHash(string metric) =>
        _storageHashes.TryGetValue(metric, out var hash) ? hash : throw new KeyNotFoundException($"No metric '{metric}'.");

    private string ComputeStorageHash(string metric)
    {
        var definition = ByName[metric];
        return definition.Kind != MetricKind.Ratio
            ? definition.Hash
            : (definition with { Numerator = $"{definition.Numerator}#{ByName[definition.Numerator!].Hash}", Denominator = $"{definition.Denominator}#{ByName[definition.Denominator!].Hash}" }).Hash;
    }

    private static string[] ColumnsOf(MetricDefinition definition) => definition.Kind switch
    {
        MetricKind.Count or MetricKind.Proportion => CountColumns,
        MetricKind.Sum or MetricKind.Mean => SumColumns,
        MetricKind.Quantile => QuantileColumns,
        MetricKind.Retention => RetentionColumns,
        MetricKind.Funnel => [.. Enumerable.Range(1, definition.Steps!.Count).Select(StepColumn)],
        _ => [], // a ratio stores nothing: its parts do
    };

    private void Allocate(string metric, string[] columns)
    {
        _slots[metric] = (Width, columns);
        Width += columns.Length;
    }
}

/// <summary>
/// A row of custom metric values (a session's, or the sum of a user's sessions') and the quantile metrics' sketches
/// of values. Rows add: <see cref="Add"/> of a user's sessions gives the user's row.
/// </summary>
public sealed class MetricValues
{
    private readonly double[] _values;
    private readonly Dictionary<string, QuantileSketch> _sketches = new(StringComparer.Ordinal);

    public MetricValues(MetricSet metrics)
    {
        Metrics = metrics;
        _values = new double[metrics.Width];
        foreach (var quantile in metrics.Definitions.Where(d => d.Kind == MetricKind.Quantile))
        {
            _sketches[quantile.Name] = new QuantileSketch();
        }
    }

    public MetricSet Metrics { get; }

    public ReadOnlySpan<double> Values => _values;

    public double this[string metric, string column]
    {
        get => _values[Metrics.Slot(metric, column)];
        internal set => _values[Metrics.Slot(metric, column)] = value;
    }

    internal double[] Raw => _values;

    public QuantileSketch Sketch(string metric) => _sketches[metric];

    public void Add(MetricValues other)
    {
        for (var i = 0; i < _values.Length; i++)
        {
            _values[i] += other._values[i];
        }

        foreach (var (name, sketch) in other._sketches)
        {
            _sketches[name].Add(sketch);
        }
    }

    /// <summary>Replaces the values (and sketches) of <paramref name="metrics"/> with <paramref name="other"/>'s, a row of the same set.</summary>
    public void CopyFrom(MetricValues other, IEnumerable<string> metrics)
    {
        foreach (var name in metrics)
        {
            var offset = Metrics.Offset(name);
            other._values.AsSpan(offset, Metrics.ColumnsOf(name).Count).CopyTo(_values.AsSpan(offset));
            if (_sketches.TryGetValue(name, out var sketch))
            {
                var replaced = new QuantileSketch();
                replaced.Add(other._sketches[name]);
                _sketches[name] = replaced;
            }
        }
    }

    public MetricValues Copy()
    {
        var copy = new MetricValues(Metrics);
        copy.Add(this);
        return copy;
    }
}
