namespace SessionTracking.ReadModel;

/// <summary>
/// A mergeable quantile sketch with relative accuracy <see cref="RelativeAccuracy"/> (DDSketch: Masson, Rim and Lee,
/// "DDSketch: a fast and fully-mergeable quantile sketch with relative-error guarantees", VLDB 2019). A value x &gt; 0 falls
/// in bin i = ⌈log_γ x⌉ with γ = (1 + α)/(1 − α), and a bin stands for 2γ^i/(γ + 1), within α of every value in it;
/// negative values mirror, zero has its own bin. Percentiles interpolate linearly between the estimated order statistics
/// at ⌊(n − 1)p⌋ and the next, as numpy's default: a convex combination of two values each within α of the true order
/// statistic is within α of the true interpolated percentile.
/// </summary>
public sealed class QuantileSketch
{
    public const double RelativeAccuracy = 0.01;

    /// <summary>Magnitudes below this count as zero (no latency is a nanosecond).</summary>
    private const double MinMagnitude = 1e-9;
    private const int PositiveOffset = 1_000_000;

    private static readonly double Gamma = (1 + RelativeAccuracy) / (1 - RelativeAccuracy);
    private static readonly double LogGamma = Math.Log(Gamma);

    private readonly SortedDictionary<int, long> _bins = [];

    public long Count { get; private set; }

    public IEnumerable<KeyValuePair<int, long>> Bins => _bins;

    public static int BinOf(double value)
    {
        var magnitude = Math.Abs(value);
        if (magnitude < MinMagnitude)
        {
            return 0;
        }

        var index = (int)Math.Ceiling(Math.Log(magnitude) / LogGamma) + PositiveOffset;
        return value > 0 ? index : -index;
    }

    public static double ValueOf(int bin)
    {
        if (bin == 0)
        {
            return 0;
        }

        var magnitude = 2 * Math.Pow(Gamma, Math.Abs(bin) - PositiveOffset) / (Gamma + 1);
        return bin > 0 ? magnitude : -magnitude;
    }

    public void Add(double value) => AddBin(BinOf(value), 1);

    public void AddBin(int bin, long count)
    {
        if (count == 0)
        {
            return;
        }

        var updated = (_bins.TryGetValue(bin, out var current) ? current : 0) + count;
        if (updated == 0)
        {
            _bins.Remove(bin);
        }
        else
        {
            _bins[bin] = updated;
        }

        Count += count;
    }

    public void Add(QuantileSketch other)
    {
        foreach (var (bin, count) in other._bins)
        {
            AddBin(bin, count);
        }
    }

    /// <summary>
    /// The p-quantile (0 ≤ p ≤ 1) by linear interpolation at rank (n − 1)p; null when empty, and when not finite (bins of
    /// values near the largest double, stored before values were bounded, stand for infinity).
    /// </summary>
    public double? Quantile(double p)
    {
        if (Count <= 0)
        {
            return null;
        }

        var h = (Count - 1) * p;
        var lo = (long)Math.Floor(h);
        var hi = Math.Min(lo + 1, Count - 1);
        var low = ValueAtRank(lo);
        var high = hi == lo ? low : ValueAtRank(hi);
        var quantile = low + (h - lo) * (high - low);
        return double.IsFinite(quantile) ? quantile : null;
    }

    private double ValueAtRank(long rank)
    {
        long seen = 0;
        foreach (var (bin, count) in _bins)
        {
            seen += count;
            if (rank < seen)
            {
                return ValueOf(bin);
            }
        }

        return ValueOf(_bins.Keys.Last());
    }
}
