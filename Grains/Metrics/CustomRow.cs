using System.Buffers.Binary;
using System.Text;

namespace SessionTracking.Metrics;

/// <summary>
/// A session's (or a user's) stored custom metric values, keyed by each metric's storage key (<see cref="MetricSet.KeyOf"/>),
/// so that a row written under one metric set reads under another: slices of keys the current set does not define are
/// carried over untouched, and a key the row lacks means "not folded yet" (the backfill or the grain's catch-up folds it).
/// A ratio has an empty slice, which marks it folded. Rows also keep each quantile metric's values as sketch bins (a
/// user's row: the sum of its sessions' bins).
/// Immutable: a flush compares the stored bytes with the ones it started from (the row's version).
/// </summary>
public sealed class CustomRow
{
    private const int KeyLength = 16;

    private readonly SortedDictionary<string, double[]> _slices;
    private readonly SortedDictionary<string, SortedDictionary<int, long>> _bins;

    private CustomRow(SortedDictionary<string, double[]> slices, SortedDictionary<string, SortedDictionary<int, long>> bins)
    {
        _slices = slices;
        _bins = bins;
    }

    public static CustomRow Empty { get; } = new(new(StringComparer.Ordinal), new(StringComparer.Ordinal));

    public IEnumerable<string> Keys => _slices.Keys;

    public bool IsEmpty => _slices.Count == 0;

    public bool Has(string key) => _slices.ContainsKey(key);

    public ReadOnlySpan<double> Slice(string key) => _slices[key];

    public IReadOnlyDictionary<int, long>? Bins(string key) => _bins.GetValueOrDefault(key);

    /// <summary>Whether this row and <paramref name="other"/> hold the same values and bins under <paramref name="key"/> (both have it).</summary>
    public bool SameSlice(CustomRow other, string key)
    {
        if (!_slices.TryGetValue(key, out var mine) || !other._slices.TryGetValue(key, out var theirs) || !mine.AsSpan().SequenceEqual(theirs))
        {
            return false;
        }

        var (a, b) = (_bins.GetValueOrDefault(key), other._bins.GetValueOrDefault(key));
        return ReferenceEquals(a, b) || (a is not null && b is not null && a.Count == b.Count && a.All(p => b.TryGetValue(p.Key, out var c) && c == p.Value));
    }

    /// <summary>
    /// The row of <paramref name="values"/>: a slice per metric of the set (and the cost columns), the quantile bins, and
    /// every slice of <paramref name="keep"/> under a key the set does not define.
    /// </summary>
    public static CustomRow Of(MetricSet set, MetricValues values, CustomRow? keep)
    {
        var slices = new SortedDictionary<string, double[]>(StringComparer.Ordinal);
        var bins = new SortedDictionary<string, SortedDictionary<int, long>>(StringComparer.Ordinal);
        if (keep is not null)
        {
            foreach (var (key, slice) in keep._slices)
            {
                slices[key] = slice;
            }

            foreach (var (key, keptBins) in keep._bins)
            {
                bins[key] = keptBins;
            }
        }

        foreach (var name in set.StoredMetrics)
        {
            var key = set.KeyOf(name);
            var offset = set.Offset(name);
            slices[key] = values.Values.Slice(offset, set.ColumnsOf(name).Count).ToArray();
            bins.Remove(key);
            if (set.ByName.TryGetValue(name, out var definition) && definition.Kind == MetricKind.Quantile && values.Sketch(name).Count > 0)
            {
                bins[key] = new SortedDictionary<int, long>(values.Sketch(name).Bins.ToDictionary(b => b.Key, b => b.Value));
            }
        }

        return new CustomRow(slices, bins);
    }

    /// <summary>The set's metrics as this row has them, in the set's layout; <paramref name="missing"/>: the metrics it lacks.</summary>
    public MetricValues ToValues(MetricSet set, out List<string> missing)
    {
        var values = new MetricValues(set);
        missing = [];
        foreach (var name in set.StoredMetrics)
        {
            var key = set.KeyOf(name);
            if (!_slices.TryGetValue(key, out var slice) || slice.Length != set.ColumnsOf(name).Count)
            {
                missing.Add(name);
                continue;
            }

            slice.CopyTo(values.Raw.AsSpan(set.Offset(name)));
            if (_bins.TryGetValue(key, out var bins))
            {
                foreach (var (bin, count) in bins)
                {
                    values.Sketch(name).AddBin(bin, count);
                }
            }
        }

        return values;
    }

    /// <summary>
    /// <paramref name="after"/> − <paramref name="before"/> for every key of <paramref name="after"/> (a key
    /// <paramref name="before"/> lacks counts whole); with <paramref name="after"/> null, the removal of
    /// <paramref name="before"/>. What a session's change adds to its user's row.
    /// </summary>
    public static CustomRow Change(CustomRow? before, CustomRow? after)
    {
        var slices = new SortedDictionary<string, double[]>(StringComparer.Ordinal);
        var bins = new SortedDictionary<string, SortedDictionary<int, long>>(StringComparer.Ordinal);
        var (from, to, sign) = after is null ? (null, before, -1.0) : (before, after, 1.0);
        if (to is null)
        {
            return Empty;
        }

        foreach (var (key, slice) in to._slices)
        {
            var change = new double[slice.Length];
            var old = from is not null && from._slices.TryGetValue(key, out var o) && o.Length == slice.Length ? o : null;
            for (var i = 0; i < slice.Length; i++)
            {
                change[i] = sign * (slice[i] - (old?[i] ?? 0));
            }

            slices[key] = change;
            var delta = new SortedDictionary<int, long>();
            foreach (var (bin, count) in to._bins.GetValueOrDefault(key) ?? [])
            {
                delta[bin] = (long)sign * count;
            }

            foreach (var (bin, count) in old is null ? [] : from!._bins.GetValueOrDefault(key) ?? [])
            {
                delta[bin] = delta.GetValueOrDefault(bin) - ((long)sign * count);
            }

            if (delta.Values.Any(c => c != 0))
            {
                bins[key] = delta;
            }
        }

        return new CustomRow(slices, bins);
    }

    /// <summary>
    /// This row plus <paramref name="change"/>, slice by slice and bin by bin: a user's row is the sum of its sessions'
    /// rows, quantile bins included (the unit terms of a quantile's interval need each user's values).
    /// </summary>
    public CustomRow Plus(CustomRow change)
    {
        var slices = new SortedDictionary<string, double[]>(_slices, StringComparer.Ordinal);
        foreach (var (key, delta) in change._slices)
        {
            var sum = slices.TryGetValue(key, out var current) && current.Length == delta.Length ? current.ToArray() : new double[delta.Length];
            for (var i = 0; i < delta.Length; i++)
            {
                sum[i] += delta[i];
            }

            slices[key] = sum;
        }

        var bins = new SortedDictionary<string, SortedDictionary<int, long>>(_bins, StringComparer.Ordinal);
        foreach (var (key, delta) in change._bins)
        {
            var sum = bins.TryGetValue(key, out var current) ? new SortedDictionary<int, long>(current) : [];
            foreach (var (bin, count) in delta)
            {
                var updated = sum.GetValueOrDefault(bin) + count;
                if (updated == 0)
                {
                    sum.Remove(bin);
                }
                else
                {
                    sum[bin] = updated;
                }
            }

            if (sum.Count > 0)
            {
                bins[key] = sum;
            }
            else
            {
                bins.Remove(key);
            }
        }

        return new CustomRow(slices, bins);
    }

    /// <summary>
    /// Little-endian: slice count, then key (16 ASCII bytes), length and doubles; bin sets, then key, count and (bin, count)
    /// pairs. Computed once (the row is immutable; a flush writes it, and the next flush binds it again as its version).
    /// </summary>
    public byte[] ToBytes() => _bytes ??= Encode();

    private byte[]? _bytes;

    private byte[] Encode()
    {
        var size = 4 + _slices.Sum(s => KeyLength + 4 + (8 * s.Value.Length)) + 4 + _bins.Sum(b => KeyLength + 4 + (12 * b.Value.Count));
        var bytes = new byte[size];
        var span = bytes.AsSpan();
        var at = 0;
        BinaryPrimitives.WriteInt32LittleEndian(span[at..], _slices.Count);
        at += 4;
        foreach (var (key, slice) in _slices)
        {
            at += WriteKey(span[at..], key);
            BinaryPrimitives.WriteInt32LittleEndian(span[at..], slice.Length);
            at += 4;
            foreach (var value in slice)
            {
                BinaryPrimitives.WriteDoubleLittleEndian(span[at..], value);
                at += 8;
            }
        }

        BinaryPrimitives.WriteInt32LittleEndian(span[at..], _bins.Count);
        at += 4;
        foreach (var (key, bins) in _bins)
        {
            at += WriteKey(span[at..], key);
            BinaryPrimitives.WriteInt32LittleEndian(span[at..], bins.Count);
            at += 4;
            foreach (var (bin, count) in bins)
            {
                BinaryPrimitives.WriteInt32LittleEndian(span[at..], bin);
                BinaryPrimitives.WriteInt64LittleEndian(span[(at + 4)..], count);
                at += 12;
            }
        }

        return bytes;
    }

    public static CustomRow FromBytes(ReadOnlySpan<byte> bytes)
    {
        try
        {
            var at = 0;
            var slices = new SortedDictionary<string, double[]>(StringComparer.Ordinal);
            var count = BinaryPrimitives.ReadInt32LittleEndian(bytes[at..]);
            at += 4;
            for (var s = 0; s < count; s++)
            {
                var key = Encoding.ASCII.GetString(bytes.Slice(at, KeyLength));
                var length = BinaryPrimitives.ReadInt32LittleEndian(bytes[(at + KeyLength)..]);
                at += KeyLength + 4;
                var slice = new double[length];
                for (var i = 0; i < length; i++, at += 8)
                {
                    slice[i] = BinaryPrimitives.ReadDoubleLittleEndian(bytes[at..]);
                }

                slices[key] = slice;
            }

            var bins = new SortedDictionary<string, SortedDictionary<int, long>>(StringComparer.Ordinal);
            count = BinaryPrimitives.ReadInt32LittleEndian(bytes[at..]);
            at += 4;
            for (var s = 0; s < count; s++)
            {
                var key = Encoding.ASCII.GetString(bytes.Slice(at, KeyLength));
                var length = BinaryPrimitives.ReadInt32LittleEndian(bytes[(at + KeyLength)..]);
                at += KeyLength + 4;
                var set = new SortedDictionary<int, long>();
                for (var i = 0; i < length; i++, at += 12)
                {
                    set[BinaryPrimitives.ReadInt32LittleEndian(bytes[at..])] = BinaryPrimitives.ReadInt64LittleEndian(bytes[(at + 4)..]);
                }

                bins[key] = set;
            }

            return at == bytes.Length ? new CustomRow(slices, bins) : throw new InvalidDataException("Trailing bytes after a custom metric row.");
        }
        catch (ArgumentOutOfRangeException ex)
        {
            throw new InvalidDataException("A custom metric row is truncated.", ex);
        }
    }

    /// <summary>The stored form of a possibly absent row: null for none (a session stored before any metric was defined).</summary>
    public static CustomRow? FromNullable(byte[]? bytes) => bytes is null ? null : FromBytes(bytes);

    private static int WriteKey(Span<byte> span, string key)
    {
        if (key.Length != KeyLength || Encoding.ASCII.GetBytes(key, span) != KeyLength)
        {
            throw new ArgumentException($"A metric key is {KeyLength} ASCII characters: '{key}'.", nameof(key));
        }

        return KeyLength;
    }
}
