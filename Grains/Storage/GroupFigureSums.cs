using SessionTracking.Metrics;
using SessionTracking.ReadModel;

namespace SessionTracking.Storage;

/// <summary>
/// The figures of an experiment's groups as an adapter reads them — aggregate rows of whole hours, rows of the sessions
/// of partial hours, users' rows — summed per (experiment, group) as they come; <see cref="ToFigures"/> is the port's
/// answer (<see cref="IAnalyticsStore.ReadGroupFiguresAsync"/>), the same for every adapter.
/// </summary>
internal sealed class GroupFigureSums
{
    private readonly Dictionary<(string Experiment, string Group), Group> _groups = [];

    public Group Of(string experiment, string group)
    {
        if (!_groups.TryGetValue((experiment, group), out var sums))
        {
            _groups[(experiment, group)] = sums = new Group();
        }

        return sums;
    }

    /// <summary>The groups in (experiment, group) order; users' figures only when users were read.</summary>
    public List<GroupFigures> ToFigures(bool usersAsUnits) =>
        _groups
            .OrderBy(g => g.Key.Experiment, StringComparer.Ordinal)
            .ThenBy(g => g.Key.Group, StringComparer.Ordinal)
            .Select(g => new GroupFigures(g.Key.Experiment, g.Key.Group, g.Value.Sessions, usersAsUnits ? g.Value.Users : null, g.Value.Sketches[0], g.Value.Sketches[1], g.Value.Sketches[2])
            {
                CustomSessions = g.Value.CustomSessions,
                CustomUsers = usersAsUnits ? g.Value.CustomUsers : null,
            })
            .ToList();

    internal sealed class Group
    {
        public Moments Sessions { get; } = new();

        public Moments Users { get; } = new();

        /// <summary>Duration, latency and TTFT, by <see cref="QuantileMetric"/>.</summary>
        public QuantileSketch[] Sketches { get; } = [new(), new(), new()];

        public Dictionary<string, MetricMoments> CustomSessions { get; } = new(StringComparer.Ordinal);

        public Dictionary<string, MetricMoments> CustomUsers { get; } = new(StringComparer.Ordinal);

        public MetricMoments Custom(Dictionary<string, MetricMoments> unit, string metric)
        {
            if (!unit.TryGetValue(metric, out var moments))
            {
                unit[metric] = moments = new MetricMoments();
            }

            return moments;
        }
    }
}
