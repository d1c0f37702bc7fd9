using System.Buffers.Binary;

namespace SessionTracking.Metrics;

/// <summary>
/// The aggregate of one custom metric over the units of a group (and hour): sums kept in numbered slots
/// (<see cref="MetricAggregation"/> says what each holds), sparse because funnels, capped metrics and quantiles use
/// slots by step or by bin. Mergeable by addition like the built-in <c>Moments</c>: a unit whose row changes contributes
/// its new terms minus its old ones.
/// </summary>
public sealed class MetricMoments
{
    private readonly SortedDictionary<long, double> _slots = [];

    public double this[long slot] => _slots.GetValueOrDefault(slot);

    public IEnumerable<KeyValuePair<long, double>> Slots => _slots;

    public bool IsEmpty => _slots.Values.All(v => v == 0);

    public void Add(long slot, double value)
    {
        if (value != 0)
        {
            _slots[slot] = _slots.GetValueOrDefault(slot) + value;
        }
    }

    /// <summary>
    /// Slots from <see cref="MetricAggregation.CappedBinBase"/> up: the per-bin sums of capped and quantile metrics, many
    /// and each changed by few units. Stores keep them apart from the few scalar slots (SQLite: a row per slot, added in
    /// place), so a flush never reads and rewrites every bin of a metric.
    /// </summary>
    public static bool IsBinSlot(long slot) => slot >= MetricAggregation.CappedBinBase - (8L * int.MaxValue);

    /// <summary>The scalar slots only (<see cref="IsBinSlot"/> false).</summary>
    public MetricMoments Scalars()
    {
        var scalars = new MetricMoments();
        foreach (var (slot, value) in _slots)
        {
            if (!IsBinSlot(slot))
            {
                scalars._slots[slot] = value;
            }
        }

        return scalars;
    }

    public void Add(MetricMoments other, double sign = 1)
    {
        foreach (var (slot, value) in other._slots)
        {
            Add(slot, sign * value);
        }
    }

    /// <summary>Little-endian (slot, value) pairs, in slot order.</summary>
    public byte[] ToBytes()
    {
        var bytes = new byte[16 * _slots.Count];
        var at = 0;
        foreach (var (slot, value) in _slots)
        {
            BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(at), slot);
            BinaryPrimitives.WriteDoubleLittleEndian(bytes.AsSpan(at + 8), value);
            at += 16;
        }

        return bytes;
    }

    public static MetricMoments FromBytes(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length % 16 != 0)
        {
            throw new InvalidDataException($"Stored metric moments have {bytes.Length} bytes, not a multiple of 16.");
        }

        var moments = new MetricMoments();
        for (var at = 0; at < bytes.Length; at += 16)
        {
            moments.Add(BinaryPrimitives.ReadInt64LittleEndian(bytes[at..]), BinaryPrimitives.ReadDoubleLittleEndian(bytes[(at + 8)..]));
        }

        return moments;
    }
}
