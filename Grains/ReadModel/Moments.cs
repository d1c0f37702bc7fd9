using System.Buffers.Binary;

namespace SessionTracking.ReadModel;

/// <summary>
/// Sums over the units (sessions or users) of a group: the number of units, Σx for every field and Σxy for every pair of
/// fields. Enough for any mean, ratio of sums and their delta-method variances, and mergeable by addition, so the read
/// model keeps them incrementally: a unit whose figures change from a to b contributes b − a and b⊗b − a⊗a.
/// </summary>
public sealed class Moments
{
    private static readonly int K = MetricFields.Count;
    private static readonly int CrossCount = K * (K + 1) / 2;

    private readonly double[] _sum;
    private readonly double[] _cross;

    public Moments()
    {
        _sum = new double[K];
        _cross = new double[CrossCount];
    }

    private Moments(long units, double[] sum, double[] cross)
    {
        Units = units;
        _sum = sum;
        _cross = cross;
    }

    public long Units { get; private set; }

    public bool IsEmpty => Units == 0;

    public double Sum(MetricField field) => _sum[(int)field];

    public double Cross(MetricField a, MetricField b) => _cross[CrossIndex((int)a, (int)b)];

    /// <summary>Adds a unit's change from <paramref name="before"/> (null: a new unit) to <paramref name="after"/> (null: the unit is removed).</summary>
    public void Apply(ReadOnlySpan<double> before, bool hadBefore, ReadOnlySpan<double> after, bool hasAfter)
    {
        if (hadBefore)
        {
            Accumulate(before, -1);
            Units--;
        }

        if (hasAfter)
        {
            Accumulate(after, +1);
            Units++;
        }
    }

    public void Add(ReadOnlySpan<double> unit)
    {
        Accumulate(unit, +1);
        Units++;
    }

    public void Add(Moments other)
    {
        Units += other.Units;
        for (var i = 0; i < K; i++)
        {
            _sum[i] += other._sum[i];
        }

        for (var i = 0; i < CrossCount; i++)
        {
            _cross[i] += other._cross[i];
        }
    }

    /// <summary>Little-endian: field count, units, sums, cross products (upper triangle, row by row).</summary>
    public byte[] ToBytes()
    {
        var bytes = new byte[4 + 8 + 8 * (K + CrossCount)];
        BinaryPrimitives.WriteInt32LittleEndian(bytes, K);
        BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(4), Units);
        var offset = 12;
        foreach (var value in _sum)
        {
            BinaryPrimitives.WriteDoubleLittleEndian(bytes.AsSpan(offset), value);
            offset += 8;
        }

        foreach (var value in _cross)
        {
            BinaryPrimitives.WriteDoubleLittleEndian(bytes.AsSpan(offset), value);
            offset += 8;
        }

        return bytes;
    }

    /// <summary>Reads what <see cref="ToBytes"/> wrote, also when it was written with fewer fields (they are zero).</summary>
    public static Moments FromBytes(ReadOnlySpan<byte> bytes)
    {
        var k = BinaryPrimitives.ReadInt32LittleEndian(bytes);
        if (k > K || bytes.Length != 12 + 8 * (k + k * (k + 1) / 2))
        {
            throw new InvalidDataException($"Stored moments have {k} fields; this version knows {K}.");
        }

        var units = BinaryPrimitives.ReadInt64LittleEndian(bytes[4..]);
        var sum = new double[K];
        var cross = new double[CrossCount];
        var offset = 12;
        for (var i = 0; i < k; i++, offset += 8)
        {
            sum[i] = BinaryPrimitives.ReadDoubleLittleEndian(bytes[offset..]);
        }

        for (var i = 0; i < k; i++)
        {
            for (var j = i; j < k; j++, offset += 8)
            {
                cross[CrossIndex(i, j)] = BinaryPrimitives.ReadDoubleLittleEndian(bytes[offset..]);
            }
        }

        return new Moments(units, sum, cross);
    }

    private void Accumulate(ReadOnlySpan<double> unit, int sign)
    {
        var c = 0;
        for (var i = 0; i < K; i++)
        {
            var x = unit[i];
            _sum[i] += sign * x;
            if (x == 0)
            {
                c += K - i;
                continue;
            }

            for (var j = i; j < K; j++, c++)
            {
                _cross[c] += sign * x * unit[j];
            }
        }
    }

    private static int CrossIndex(int a, int b)
    {
        var (i, j) = a <= b ? (a, b) : (b, a);
        return i * K - i * (i - 1) / 2 + (j - i);
    }
}
