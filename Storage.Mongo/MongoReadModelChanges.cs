using SessionTracking.Metrics;
using SessionTracking.ReadModel;

namespace SessionTracking.Storage.Mongo;

/// <summary>
/// What one write (a flush, a new session, a privacy deletion, a backfill batch) changes in the experiment aggregates,
/// summed in memory so that each aggregate document is written once: the sessions' changes to the session-unit moments
/// and the sketch bins, and each user's change. The user-unit moments need the user's sums before and after, which only
/// the store knows: <see cref="ApplyUser"/> takes the user's new sums (from the <c>$inc</c>) once they are written.
/// The arithmetic is <see cref="Sqlite.SqliteReadModel"/>'s. Custom metrics (<paramref name="metrics"/>, none when null
/// or empty) likewise: each session's change goes to the per-metric aggregates of its start hour, and each user's summed
/// change of custom row waits for <see cref="ApplyUserCustom"/> with the user's stored row.
/// </summary>
public sealed class MongoReadModelChanges(int shards, MetricSet? metrics = null)
{
    private readonly Dictionary<UserKey, double[]> _users = [];
    private readonly Dictionary<MomentsKey, Moments> _moments = [];
    private readonly Dictionary<SketchKey, SortedDictionary<int, long>> _bins = [];
    private readonly Dictionary<UserKey, CustomRow> _userCustom = [];
    private readonly Dictionary<MetricMomentsKey, MetricMoments> _metricMoments = [];
    private readonly MetricSet? _metrics = metrics is { StoredMetrics.Count: > 0 } ? metrics : null;

    public int Shards { get; } = Math.Max(1, shards);

    /// <summary>Each user's summed change of custom row (<see cref="CustomRow.Change"/>), for the user's stored row.</summary>
    public IReadOnlyDictionary<UserKey, CustomRow> UserCustomChanges => _userCustom;

    /// <summary>Per-metric aggregate changes per document; complete once every user has gone through <see cref="ApplyUserCustom"/>.</summary>
    public IReadOnlyDictionary<MetricMomentsKey, MetricMoments> MetricMomentsChanges => _metricMoments;

    /// <summary>Each user's summed change, for the <c>$inc</c> of its <c>user_summaries</c> document.</summary>
    public IReadOnlyDictionary<UserKey, double[]> UserChanges => _users;

    /// <summary>Moments changes per document; complete once every user has gone through <see cref="ApplyUser"/>.</summary>
    public IReadOnlyDictionary<MomentsKey, Moments> MomentsChanges => _moments;

    /// <summary>Bin count changes per sketch document (zero changes left out).</summary>
    public IEnumerable<KeyValuePair<SketchKey, SortedDictionary<int, long>>> BinChanges =>
        _bins.Select(b => KeyValuePair.Create(b.Key, new SortedDictionary<int, long>(b.Value.Where(c => c.Value != 0).ToDictionary()))).Where(b => b.Value.Count > 0);

    public bool IsEmpty => _users.Count == 0 && _moments.Count == 0 && _bins.Count == 0 && _userCustom.Count == 0 && _metricMoments.Count == 0;

    /// <summary>A flush or a new session (<see cref="ReadModelUpdate.Previous"/> null): the session's row goes from Previous to Current.</summary>
    public void Apply(SessionInfo session, ReadModelUpdate update)
    {
        Record(session, update.Previous?.Values.ToArray(), update.Current.Values.ToArray(), update.Samples, +1);
        RecordCustom(session, update.Previous?.Custom, update.Current.Custom);
    }

    /// <summary>A session leaves the aggregates (privacy deletion) with the values it had added to the sketches.</summary>
    public void Remove(SessionInfo session, SessionSummary stored, IReadOnlyList<MetricSample> samples)
    {
        Record(session, stored.Values.ToArray(), null, samples, -1);
        RecordCustom(session, stored.Custom, null);
    }

    /// <summary>
    /// Records the user's custom row moving from <paramref name="before"/> (as stored) to <paramref name="after"/> (null:
    /// the user has no session left): the user leaves each metric's user-unit aggregate as it was and enters as it is.
    /// <paramref name="covariate"/>: the user's CUPED covariate when the experiment uses one (empty when none was
    /// computed), whose Σx, Σx², Σxy go with the user; null when it does not (no covariate slots).
    /// </summary>
    public void ApplyUserCustom(UserKey key, CustomRow? before, CustomRow? after, CustomRow? covariate = null)
    {
        if (_metrics is null)
        {
            return;
        }

        var shard = MongoReadModelDocuments.ShardOf(key.UserId, Shards);
        MetricAggregation.AddChange(
            _metrics,
            before,
            after,
            metric => MetricMomentsOf(new MetricMomentsKey(key.ExperimentId, key.ModelGroup, MongoReadModelDocuments.UserUnit, MongoReadModelDocuments.AllHours, metric, shard)),
            withBins: true,
            covariate);
    }

    /// <summary>
    /// The session's custom row change: to the session-unit aggregates of its start hour (with the quantile bins), and
    /// summed into its user's change. As SQLite's, a row passed on unchanged (the same object) changes nothing.
    /// </summary>
    private void RecordCustom(SessionInfo session, CustomRow? before, CustomRow? after)
    {
        if (_metrics is null || ReferenceEquals(before, after) || (before is null && after is null))
        {
            return;
        }

        var hour = MongoReadModelDocuments.HourOf(session.StartTime);
        var shard = MongoReadModelDocuments.ShardOf(session.SessionId, Shards);
        MetricAggregation.AddChange(
            _metrics,
            before,
            after,
            metric => MetricMomentsOf(new MetricMomentsKey(session.ExperimentId, session.ModelGroup, MongoReadModelDocuments.SessionUnit, hour, metric, shard)),
            withBins: true);

        var userKey = new UserKey(session.ExperimentId, session.ModelGroup, session.UserId);
        var change = CustomRow.Change(before, after);
        _userCustom[userKey] = _userCustom.TryGetValue(userKey, out var summed) ? summed.Plus(change) : change;
    }

    private MetricMoments MetricMomentsOf(MetricMomentsKey key)
    {
        if (!_metricMoments.TryGetValue(key, out var moments))
        {
            _metricMoments[key] = moments = new MetricMoments();
        }

        return moments;
    }

    /// <summary>
    /// Records the user's move to <paramref name="userAfter"/> (its sums after the change was added): the user leaves the
    /// user-unit moments as it was before (after − change) and enters as it is, unless it has no sessions left.
    /// </summary>
    public void ApplyUser(UserKey key, ReadOnlySpan<double> userAfter)
    {
        var change = _users[key];
        var userBefore = new double[MetricFields.Count];
        for (var i = 0; i < userBefore.Length; i++)
        {
            userBefore[i] = userAfter[i] - change[i];
        }

        const int sessions = (int)MetricField.Sessions;
        MomentsOf(new MomentsKey(key.ExperimentId, key.ModelGroup, MongoReadModelDocuments.UserUnit, MongoReadModelDocuments.AllHours, MongoReadModelDocuments.ShardOf(key.UserId, Shards)))
            .Apply(userBefore, userBefore[sessions] > 0, userAfter, userAfter[sessions] > 0);
    }

    private void Record(SessionInfo session, double[]? before, double[]? after, IReadOnlyList<MetricSample> samples, int sign)
    {
        if (before is not null && after is not null && before.AsSpan().SequenceEqual(after) && samples.Count == 0)
        {
            return; // a flush of legacy rows only: nothing changes, and no aggregate document need be written
        }

        var userKey = new UserKey(session.ExperimentId, session.ModelGroup, session.UserId);
        if (!_users.TryGetValue(userKey, out var change))
        {
            _users[userKey] = change = new double[MetricFields.Count];
        }

        for (var i = 0; i < change.Length; i++)
        {
            change[i] += (after?[i] ?? 0) - (before?[i] ?? 0);
        }

        var hour = MongoReadModelDocuments.HourOf(session.StartTime);
        var shard = MongoReadModelDocuments.ShardOf(session.SessionId, Shards);
        MomentsOf(new MomentsKey(session.ExperimentId, session.ModelGroup, MongoReadModelDocuments.SessionUnit, hour, shard))
            .Apply(before, before is not null, after, after is not null);
        foreach (var sample in samples)
        {
            var key = new SketchKey(session.ExperimentId, session.ModelGroup, hour, sample.Metric, shard);
            if (!_bins.TryGetValue(key, out var bins))
            {
                _bins[key] = bins = [];
            }

            var bin = QuantileSketch.BinOf(sample.Value);
            bins[bin] = (bins.TryGetValue(bin, out var count) ? count : 0) + sign;
        }
    }

    private Moments MomentsOf(MomentsKey key)
    {
        if (!_moments.TryGetValue(key, out var moments))
        {
            _moments[key] = moments = new Moments();
        }

        return moments;
    }
}
