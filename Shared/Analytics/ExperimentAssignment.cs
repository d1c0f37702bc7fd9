using System.Security.Cryptography;
using System.Text;

namespace SessionTracking.Analytics;

/// <summary>
/// Sticky assignment: a user always lands in the same model_group of an experiment, with probabilities given by the
/// configured split. SHA-256 of "experiment\nuser" (not string.GetHashCode, which differs per process) mapped to
/// [0, 1) and looked up in the cumulative weights of the groups in ordinal name order.
/// </summary>
public static class ExperimentAssignment
{
    public static string Assign(ExperimentOptions experiment, string experimentId, string userId)
    {
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes(experimentId + "\n" + userId), hash);
        var unit = (BitConverter.ToUInt64(hash[..8]) >> 11) * (1.0 / (1UL << 53)); // 53 bits: exact doubles in [0, 1)
        var groups = experiment.Split.OrderBy(g => g.Key, StringComparer.Ordinal).ToList();
        var total = groups.Sum(g => g.Value);
        var cumulative = 0.0;
        foreach (var (group, weight) in groups)
        {
            cumulative += weight / total;
            if (unit < cumulative)
            {
                return group;
            }
        }

        return groups[^1].Key;
    }
}
