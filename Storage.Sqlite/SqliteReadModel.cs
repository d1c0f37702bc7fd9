using System.Text;
using Microsoft.Data.Sqlite;
using SessionTracking.Metrics;
using SessionTracking.ReadModel;

namespace SessionTracking.Storage.Sqlite;

/// <summary>
/// The read model's writes on one connection, inside its caller's transaction: the session's row (replaced only when the
/// stored version is the one the flush started from), the user's row (sums of its sessions), and the changes to the
/// experiment aggregates — moments per experiment × group × start hour (sessions as units) and per experiment × group
/// (users as units), and sketch bins per experiment × group × start hour. Aggregate changes are summed in memory while the
/// transaction runs and written once per aggregate row by <see cref="WriteAggregates"/>, just before the commit.
/// </summary>
internal sealed class SqliteReadModel : IDisposable
{
    public const int SessionUnit = 0;
    public const int UserUnit = 1;

    /// <summary>The hour key of user-unit moments, which cover the whole experiment.</summary>
    public const long AllHours = -1;

    public const long HourMs = 3_600_000;

    // The writer's caches of rows it wrote (WriterCache): users with a custom row (~1 KB each), aggregate blobs.
    private const int MaxCachedUsers = 100_000;
    private const int MaxCachedAggregates = 20_000;

    /// <summary>Reads the <see cref="MetricFields"/> columns of a row, in field order, starting at <paramref name="ordinal"/>.</summary>
    public static void ReadFields(SqliteDataReader reader, int ordinal, double[] values)
    {
        for (var i = 0; i < values.Length; i++)
        {
            values[i] = reader.GetDouble(ordinal + i);
        }
    }

    /// <summary>
    /// Adds the latency and TTFT values of a chunk's model_response events to <paramref name="samples"/>, read as the grain
    /// read them (<see cref="SessionSummaryBuilder"/>): the values a session put into the percentile sketches.
    /// </summary>
    public static void AddResponseSamples(byte[] chunk, long firstSeq, List<MetricSample> samples)
    {
        var responses = new SessionSummaryBuilder(SessionSummary.Started(), countsExclusions: false);
        EventChunk.Decode(chunk, firstSeq, (responses, samples), static (state, e) =>
        {
            if (e.Type == "model_response")
            {
                state.responses.Add(e, state.samples);
            }
        });
    }

    private static readonly string ColumnList = string.Join(", ", MetricFields.Columns);
    private static readonly string ParameterList = string.Join(", ", MetricFields.Columns.Select((_, i) => $"$v{i}"));

    private readonly SqliteConnection _connection;
    private readonly SqliteCommand _insertSession;
    private readonly SqliteCommand _updateSession;
    private readonly SqliteCommand _upsertUser;
    private readonly SqliteCommand _readMoments;
    private readonly SqliteCommand _writeMoments;
    private readonly SqliteCommand _addBin;
    private readonly SqliteCommand _updateSessionCustom;
    private readonly SqliteCommand _readUserCustom;
    private readonly SqliteCommand _writeUserCustom;
    private readonly SqliteCommand _readMetricMoments;
    private readonly SqliteCommand _writeMetricMoments;
    private readonly SqliteCommand _addMetricBin;
    private readonly MetricSet? _metrics;
    private readonly MetricCatalog? _catalog;
    private readonly Dictionary<(string Experiment, string Group, int Unit, long Hour), Moments> _moments = [];
    private readonly Dictionary<(string Experiment, string Group, long Hour, int Metric, int Bin), long> _bins = [];
    private readonly Dictionary<(string Experiment, string Group, int Unit, long Hour, string Metric), MetricMoments> _metricMoments = [];
    private readonly WriterCache<(string Experiment, string Group, string User), (CustomRow? Custom, CustomRow? Covariate)> _userCustom = new(MaxCachedUsers);
    private readonly WriterCache<(string Experiment, string Group, int Unit, long Hour, string Metric), MetricMoments> _storedMetricMoments = new(MaxCachedAggregates);
    private readonly SqliteCommand _dataVersion;
    private long _dataVersionSeen = -1;

    /// <param name="metrics">The custom metrics whose aggregates flushes keep; null or empty: none (custom rows are still stored).</param>
    public SqliteReadModel(SqliteConnection connection, MetricCatalog? metrics = null)
    {
        _connection = connection;
        _dataVersion = Prepare("PRAGMA data_version");
        _catalog = metrics is { IsEmpty: false } ? metrics : null;
        _metrics = _catalog?.Set;
        _insertSession = Prepare($"INSERT INTO session_summaries (session_id, through_seq, custom, {ColumnList}) VALUES ($id, $seq, $custom, {ParameterList})", "$id", "$seq", "$custom");

        // The custom row is part of the version: a backfill or another activation that wrote it makes this flush a conflict.
        _updateSession = Prepare(
            $"UPDATE session_summaries SET through_seq = $seq, custom = $custom, {string.Join(", ", MetricFields.Columns.Select((c, i) => $"{c} = $v{i}"))} WHERE session_id = $id AND through_seq = $prev_seq AND ended = $prev_ended AND custom IS $prev_custom",
            "$id", "$seq", "$custom", "$prev_seq", "$prev_ended", "$prev_custom");
        _updateSessionCustom = Prepare(
            "UPDATE session_summaries SET through_seq = $seq, custom = $custom WHERE session_id = $id AND through_seq = $prev_seq AND ended = $prev_ended AND custom IS $prev_custom",
            "$id", "$seq", "$custom", "$prev_seq", "$prev_ended", "$prev_custom");
        _readUserCustom = Prepare(
            "SELECT custom, covariate FROM user_summaries WHERE experiment_id = $experiment AND model_group = $group AND user_id = $user",
            "$experiment", "$group", "$user");
        _writeUserCustom = Prepare(
            "UPDATE user_summaries SET custom = $custom, covariate = $covariate WHERE experiment_id = $experiment AND model_group = $group AND user_id = $user",
            "$custom", "$covariate", "$experiment", "$group", "$user");
        _readMetricMoments = Prepare(
            "SELECT moments FROM experiment_metric_moments WHERE experiment_id = $experiment AND model_group = $group AND unit = $unit AND hour = $hour AND metric = $metric",
            "$experiment", "$group", "$unit", "$hour", "$metric");
        _writeMetricMoments = Prepare(
            """
            INSERT INTO experiment_metric_moments (experiment_id, model_group, unit, hour, metric, moments) VALUES ($experiment, $group, $unit, $hour, $metric, $moments)
            ON CONFLICT (experiment_id, model_group, unit, hour, metric) DO UPDATE SET moments = excluded.moments
            """,
            "$experiment", "$group", "$unit", "$hour", "$metric", "$moments");
        _addMetricBin = Prepare(
            """
            INSERT INTO experiment_metric_bins (experiment_id, model_group, unit, hour, metric, slot, value) VALUES ($experiment, $group, $unit, $hour, $metric, $slot, $value)
            ON CONFLICT (experiment_id, model_group, unit, hour, metric, slot) DO UPDATE SET value = value + excluded.value
            """,
            "$experiment", "$group", "$unit", "$hour", "$metric", "$slot", "$value");
        _upsertUser = Prepare(
            $"""
            INSERT INTO user_summaries (experiment_id, model_group, user_id, {ColumnList}) VALUES ($experiment, $group, $user, {ParameterList})
            ON CONFLICT (experiment_id, model_group, user_id) DO UPDATE SET {string.Join(", ", MetricFields.Columns.Select(c => $"{c} = {c} + excluded.{c}"))}
            RETURNING {ColumnList}
            """,
            "$experiment", "$group", "$user");
        _readMoments = Prepare(
            "SELECT moments FROM experiment_moments WHERE experiment_id = $experiment AND model_group = $group AND unit = $unit AND hour = $hour",
            "$experiment", "$group", "$unit", "$hour");
        _writeMoments = Prepare(
            """
            INSERT INTO experiment_moments (experiment_id, model_group, unit, hour, moments) VALUES ($experiment, $group, $unit, $hour, $moments)
            ON CONFLICT (experiment_id, model_group, unit, hour) DO UPDATE SET moments = excluded.moments
            """,
            "$experiment", "$group", "$unit", "$hour", "$moments");
        _addBin = Prepare(
            """
            INSERT INTO experiment_sketch_bins (experiment_id, model_group, hour, metric, bin, count) VALUES ($experiment, $group, $hour, $metric, $bin, $count)
            ON CONFLICT (experiment_id, model_group, hour, metric, bin) DO UPDATE SET count = count + excluded.count
            """,
            "$experiment", "$group", "$hour", "$metric", "$bin", "$count");
    }

    public static long HourOf(DateTimeOffset startTime) => Math.DivRem(startTime.ToUnixTimeMilliseconds(), HourMs, out var rem) - (rem < 0 ? 1 : 0);

    /// <summary>
    /// Starts a transaction of <paramref name="transaction"/>'s connection: forgets the aggregate changes and cached rows
    /// of one that did not commit, and every cached row when another connection committed since.
    /// </summary>
    public void BeginTransaction(SqliteTransaction transaction)
    {
        _moments.Clear();
        _bins.Clear();
        _metricMoments.Clear();
        _dataVersion.Transaction = transaction;
        var version = (long)_dataVersion.ExecuteScalar()!;
        var stale = version != _dataVersionSeen;
        _dataVersionSeen = version;
        _userCustom.Begin(stale);
        _storedMetricMoments.Begin(stale);
    }

    /// <summary>The transaction begun last committed: the rows it cached are the stored ones.</summary>
    public void Committed()
    {
        _userCustom.Committed();
        _storedMetricMoments.Committed();
    }

    /// <summary>Drops every cached row: for writes made around this class (a savepoint rolled back, a user deleted by SQL).</summary>
    public void ForgetCachedRows()
    {
        _userCustom.Clear();
        _storedMetricMoments.Clear();
    }

    /// <summary>
    /// Writes the session's new row and records what it changes. Throws <see cref="ReadModelConflictException"/> when the
    /// stored row is not <see cref="ReadModelUpdate.Previous"/>: another activation, or this very flush, was applied already.
    /// </summary>
    public void Apply(SessionInfo session, ReadModelUpdate update, SqliteTransaction transaction)
    {
        var current = update.Current;
        var custom = (object?)current.Custom?.ToBytes() ?? DBNull.Value;
        if (update.Previous is not { } previous)
        {
            Bind(_insertSession, transaction, current.Values, session.SessionId, current.ThroughSeq, custom);
            _insertSession.ExecuteNonQuery();
        }
        else
        {
            // A flush that moved custom metrics only (interactions a metric counts: clicks, scrolls…) leaves the built-in
            // columns, the user's built-in sums and the built-in aggregates as they are, and writes the custom row alone.
            var builtInChanged = update.Samples.Count > 0 || !previous.Values.SequenceEqual(current.Values);
            var command = builtInChanged ? _updateSession : _updateSessionCustom;
            Bind(command, transaction, builtInChanged ? current.Values : [], session.SessionId, current.ThroughSeq, custom, previous.ThroughSeq, previous.Ended ? 1.0 : 0.0, (object?)previous.Custom?.ToBytes() ?? DBNull.Value);
            if (command.ExecuteNonQuery() != 1)
            {
                throw new ReadModelConflictException(session.SessionId);
            }

            if (!builtInChanged)
            {
                RecordCustom(session, previous.Custom, current.Custom, userRemains: true, transaction);
                return;
            }
        }

        var userRemains = Record(session, update.Previous is null ? null : update.Previous.Values.ToArray(), current.Values.ToArray(), update.Samples, transaction, sign: +1);
        RecordCustom(session, update.Previous?.Custom, current.Custom, userRemains, transaction);
    }

    /// <summary>Records the removal of a session (privacy deletion); the caller deletes its rows.</summary>
    public void Remove(SessionInfo session, SessionSummary stored, IReadOnlyList<MetricSample> samples, SqliteTransaction transaction)
    {
        var userRemains = Record(session, stored.Values.ToArray(), null, samples, transaction, sign: -1);
        RecordCustom(session, stored.Custom, null, userRemains, transaction);
    }

    /// <summary>
    /// The custom metrics: the session's change moves its user's custom row by the same amount, and both units' changes
    /// go to the aggregates (<see cref="MetricAggregation"/>: sessions by start hour, users over all time, both with their
    /// quantile bins). The user's row is read and written here, in the flush's transaction; a user left without sessions
    /// (<paramref name="userRemains"/> false: a privacy deletion) leaves the user aggregates.
    /// </summary>
    private void RecordCustom(SessionInfo session, CustomRow? before, CustomRow? after, bool userRemains, SqliteTransaction transaction)
    {
        if (_metrics is null || ReferenceEquals(before, after) || (before is null && after is null))
        {
            return;
        }

        var hour = HourOf(session.StartTime);
        MetricAggregation.AddChange(_metrics, before, after, metric => MetricMomentsOf(session, SessionUnit, hour, metric), withBins: true);

        var userKey = (session.ExperimentId, session.ModelGroup, session.UserId);
        if (!_userCustom.TryGet(userKey, out var stored))
        {
            Set(_readUserCustom, transaction, session.ExperimentId, session.ModelGroup, session.UserId);
            using var reader = _readUserCustom.ExecuteReader();
            reader.Read();
            stored = (reader.IsDBNull(0) ? null : CustomRow.FromBytes((byte[])reader.GetValue(0)), reader.IsDBNull(1) ? null : CustomRow.FromBytes((byte[])reader.GetValue(1)));
        }

        var (userBefore, covariate) = stored;

        var userAfter = userRemains ? (userBefore ?? CustomRow.Empty).Plus(CustomRow.Change(before, after)) : null;
        var cuped = _catalog!.UsesCovariate(session.ExperimentId);
        if (cuped && userBefore is null && covariate is null)
        {
            covariate = SqliteCupedCovariate.Read(_connection, transaction, _catalog, session);
        }

        Set(_writeUserCustom, transaction, (object?)userAfter?.ToBytes() ?? DBNull.Value, (object?)covariate?.ToBytes() ?? DBNull.Value, session.ExperimentId, session.ModelGroup, session.UserId);
        _writeUserCustom.ExecuteNonQuery();
        _userCustom.Put(userKey, (userAfter, covariate));
        MetricAggregation.AddChange(_metrics, userBefore, userAfter, metric => MetricMomentsOf(session, UserUnit, AllHours, metric), withBins: true, cuped ? covariate ?? CustomRow.Empty : null);
    }

    private MetricMoments MetricMomentsOf(SessionInfo session, int unit, long hour, string metric)
    {
        var key = (session.ExperimentId, session.ModelGroup, unit, hour, metric);
        if (!_metricMoments.TryGetValue(key, out var moments))
        {
            _metricMoments[key] = moments = new MetricMoments();
        }

        return moments;
    }

    /// <summary>Writes the summed aggregate changes of the transaction: one read and one write per aggregate row.</summary>
    public void WriteAggregates(SqliteTransaction transaction)
    {
        foreach (var ((experiment, group, unit, hour), delta) in _moments)
        {
            Set(_readMoments, transaction, experiment, group, unit, hour);
            var stored = _readMoments.ExecuteScalar() is byte[] bytes ? Moments.FromBytes(bytes) : new Moments();
            stored.Add(delta);
            Set(_writeMoments, transaction, experiment, group, unit, hour, stored.ToBytes());
            _writeMoments.ExecuteNonQuery();
        }

        foreach (var ((experiment, group, hour, metric, bin), count) in _bins)
        {
            if (count != 0)
            {
                Set(_addBin, transaction, experiment, group, hour, metric, bin, count);
                _addBin.ExecuteNonQuery();
            }
        }

        foreach (var ((experiment, group, unit, hour, metric), delta) in _metricMoments)
        {
            // The few scalar slots: one blob per metric, group, unit and hour. The bins: a row each, added in place.
            var scalars = delta.Scalars();
            if (!scalars.IsEmpty)
            {
                var key = (experiment, group, unit, hour, metric);
                if (!_storedMetricMoments.TryGet(key, out var stored))
                {
                    Set(_readMetricMoments, transaction, experiment, group, unit, hour, metric);
                    stored = _readMetricMoments.ExecuteScalar() is byte[] bytes ? MetricMoments.FromBytes(bytes) : new MetricMoments();
                }

                // A copy: the cached value stays the stored one until this transaction commits.
                var updated = new MetricMoments();
                updated.Add(stored);
                updated.Add(scalars);
                Set(_writeMetricMoments, transaction, experiment, group, unit, hour, metric, updated.ToBytes());
                _writeMetricMoments.ExecuteNonQuery();
                _storedMetricMoments.Put(key, updated);
            }

            foreach (var (slot, value) in delta.Slots)
            {
                if (MetricMoments.IsBinSlot(slot) && value != 0)
                {
                    Set(_addMetricBin, transaction, experiment, group, unit, hour, metric, slot, value);
                    _addMetricBin.ExecuteNonQuery();
                }
            }
        }

        _moments.Clear();
        _bins.Clear();
        _metricMoments.Clear();
    }

    public void Dispose()
    {
        foreach (var command in new[] { _dataVersion, _insertSession, _updateSession, _updateSessionCustom, _upsertUser, _readMoments, _writeMoments, _addBin, _readUserCustom, _writeUserCustom, _readMetricMoments, _writeMetricMoments, _addMetricBin })
        {
            command.Dispose();
        }
    }

    /// <summary>Records the built-in figures' change; returns whether the user still has a session in the group.</summary>
    private bool Record(SessionInfo session, double[]? before, double[]? after, IReadOnlyList<MetricSample> samples, SqliteTransaction transaction, int sign)
    {
        // The user's row moves by the session's change; RETURNING gives its new sums, and the old ones are new − change.
        var change = new double[MetricFields.Count];
        for (var i = 0; i < change.Length; i++)
        {
            change[i] = (after?[i] ?? 0) - (before?[i] ?? 0);
        }

        Bind(_upsertUser, transaction, change, session.ExperimentId, session.ModelGroup, session.UserId);
        var userAfter = new double[MetricFields.Count];
        using (var reader = _upsertUser.ExecuteReader())
        {
            reader.Read();
            ReadFields(reader, 0, userAfter);
        }

        var userBefore = new double[MetricFields.Count];
        for (var i = 0; i < userBefore.Length; i++)
        {
            userBefore[i] = userAfter[i] - change[i];
        }

        var hour = HourOf(session.StartTime);
        MomentsOf(session, SessionUnit, hour).Apply(before, before is not null, after, after is not null);
        const int sessions = (int)MetricField.Sessions;
        MomentsOf(session, UserUnit, AllHours).Apply(userBefore, userBefore[sessions] > 0, userAfter, userAfter[sessions] > 0);
        foreach (var sample in samples)
        {
            var key = (session.ExperimentId, session.ModelGroup, hour, (int)sample.Metric, QuantileSketch.BinOf(sample.Value));
            _bins[key] = (_bins.TryGetValue(key, out var count) ? count : 0) + sign;
        }

        return userAfter[sessions] > 0;
    }

    private Moments MomentsOf(SessionInfo session, int unit, long hour)
    {
        var key = (session.ExperimentId, session.ModelGroup, unit, hour);
        if (!_moments.TryGetValue(key, out var moments))
        {
            _moments[key] = moments = new Moments();
        }

        return moments;
    }

    /// <summary>Binds the leading named parameters, then the metric values as $v0…</summary>
    private static void Bind(SqliteCommand command, SqliteTransaction transaction, ReadOnlySpan<double> values, params object[] leading)
    {
        command.Transaction = transaction;
        var p = 0;
        foreach (var value in leading)
        {
            command.Parameters[p++].Value = value;
        }

        foreach (var value in values)
        {
            command.Parameters[p++].Value = value;
        }
    }

    private static void Set(SqliteCommand command, SqliteTransaction transaction, params object[] values)
    {
        command.Transaction = transaction;
        for (var i = 0; i < values.Length; i++)
        {
            command.Parameters[i].Value = values[i];
        }
    }

    private SqliteCommand Prepare(string sql, params string[] leadingParameters)
    {
        var command = _connection.CreateCommand();
        command.CommandText = sql;
        foreach (var name in leadingParameters)
        {
            command.Parameters.Add(new SqliteParameter { ParameterName = name });
        }

        if (sql.Contains("$v0", StringComparison.Ordinal))
        {
            for (var i = 0; i < MetricFields.Count; i++)
            {
                command.Parameters.Add(new SqliteParameter { ParameterName = $"$v{i}" });
            }
        }

        return command;
    }

    /// <summary>The schema of the read model (created with the store's schema).</summary>
    public static string Schema()
    {
        var columns = new StringBuilder();
        foreach (var column in MetricFields.Columns)
        {
            columns.Append($",\n    {column} REAL NOT NULL DEFAULT 0");
        }

        return $"""
            CREATE TABLE IF NOT EXISTS session_summaries (
                session_id  TEXT PRIMARY KEY,
                through_seq INTEGER NOT NULL,
                custom      BLOB NULL{columns}
            ) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS user_summaries (
                experiment_id TEXT NOT NULL,
                model_group   TEXT NOT NULL,
                user_id       TEXT NOT NULL,
                custom        BLOB NULL,
                covariate     BLOB NULL{columns},
                PRIMARY KEY (experiment_id, model_group, user_id)
            ) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS experiment_metric_moments (
                experiment_id TEXT NOT NULL,
                model_group   TEXT NOT NULL,
                unit          INTEGER NOT NULL,
                hour          INTEGER NOT NULL,
                metric        TEXT NOT NULL,
                moments       BLOB NOT NULL,
                PRIMARY KEY (experiment_id, model_group, unit, hour, metric)
            ) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS experiment_metric_bins (
                experiment_id TEXT NOT NULL,
                model_group   TEXT NOT NULL,
                unit          INTEGER NOT NULL,
                hour          INTEGER NOT NULL,
                metric        TEXT NOT NULL,
                slot          INTEGER NOT NULL,
                value         REAL NOT NULL,
                PRIMARY KEY (experiment_id, model_group, unit, hour, metric, slot)
            ) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS custom_metric_state (
                metric         TEXT PRIMARY KEY,
                name           TEXT NOT NULL,
                state          TEXT NOT NULL,
                sessions_done  INTEGER NOT NULL DEFAULT 0,
                sessions_total INTEGER NOT NULL DEFAULT 0,
                started_at     INTEGER NULL,
                completed_at   INTEGER NULL
            ) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS experiment_moments (
                experiment_id TEXT NOT NULL,
                model_group   TEXT NOT NULL,
                unit          INTEGER NOT NULL,
                hour          INTEGER NOT NULL,
                moments       BLOB NOT NULL,
                PRIMARY KEY (experiment_id, model_group, unit, hour)
            ) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS experiment_sketch_bins (
                experiment_id TEXT NOT NULL,
                model_group   TEXT NOT NULL,
                hour          INTEGER NOT NULL,
                metric        INTEGER NOT NULL,
                bin           INTEGER NOT NULL,
                count         INTEGER NOT NULL,
                PRIMARY KEY (experiment_id, model_group, hour, metric, bin)
            ) WITHOUT ROWID;
            """;
    }
}

/// <summary>The stored read-model row is not the version a flush started from.</summary>
internal sealed class ReadModelConflictException(string sessionId)
    : Exception($"The read-model row of session {sessionId} changed since the flush was prepared.");
