using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using SessionTracking.Analytics;
using SessionTracking.Metrics;
using SessionTracking.ReadModel;

namespace SessionTracking.Storage.Sqlite;

/// <summary>
/// Folds a custom metric defined (or changed) after sessions were stored into their rows and the aggregates, while ingest
/// goes on (docs/custom-metrics.md, "Backfill"). <see cref="Prepare"/> runs at start-up and marks every configured metric
/// key without a completed backfill as <c>backfilling</c>; then batches of sessions in (start_time, session_id) order go
/// through the writer like flushes (<see cref="WriteRequest.MetricBackfill"/>), each in the writer's transaction, so a
/// batch and a flush of the same session never interleave. A session whose row lacks a key is folded from its stored
/// chunks with the grain's own code (<see cref="SessionSummaryBuilder.FoldMissing"/>) and written with the flush's
/// versioned update: a grain holding the older row gets a conflict on its next flush and reloads the completed one.
/// </summary>
internal static partial class SqliteMetricBackfill
{
    // Small: a batch holds the single writer (every flush waits behind it); 50 sessions of 20 events take tens of ms.
    public const int SessionsPerBatch = 50;

    /// <summary>Sets the state of every configured key; deletes the state and aggregates of keys no longer configured. Returns how many keys need a backfill.</summary>
    public static int Prepare(SqliteConnection connection, MetricCatalog catalog, long nowMs)
    {
        var set = catalog.Set;
        var configured = set.StoredMetrics.ToDictionary(set.KeyOf, name => name, StringComparer.Ordinal);
        using var transaction = connection.BeginTransaction(deferred: false);
        var stored = new Dictionary<string, string>(StringComparer.Ordinal);
        using (var command = Command(connection, transaction, "SELECT metric, state FROM custom_metric_state"))
        using (var reader = command.ExecuteReader())
        {
            while (reader.Read())
            {
                stored[reader.GetString(0)] = reader.GetString(1);
            }
        }

        foreach (var key in stored.Keys.Where(k => !configured.ContainsKey(k)))
        {
            using var delete = Command(connection, transaction, "DELETE FROM custom_metric_state WHERE metric = $key; DELETE FROM experiment_metric_moments WHERE metric = $key; DELETE FROM experiment_metric_bins WHERE metric = $key;");
            delete.Parameters.AddWithValue("$key", key);
            delete.ExecuteNonQuery();
        }

        var total = Scalar(connection, transaction, "SELECT COUNT(*) FROM sessions");
        var pending = 0;
        foreach (var (key, name) in configured)
        {
            if (stored.GetValueOrDefault(key) == "complete")
            {
                continue;
            }

            // A key never completed starts over: its aggregates may hold part of an interrupted run, and every session
            // row that has the key counted in them; rows are kept, aggregates rebuilt from rows that have it.
            using var upsert = Command(
                connection,
                transaction,
                """
                INSERT INTO custom_metric_state (metric, name, state, sessions_done, sessions_total, started_at, completed_at)
                VALUES ($key, $name, 'backfilling', 0, $total, $now, NULL)
                ON CONFLICT (metric) DO UPDATE SET name = excluded.name, state = 'backfilling', sessions_done = 0, sessions_total = excluded.sessions_total, started_at = excluded.started_at, completed_at = NULL
                """);
            upsert.Parameters.AddWithValue("$key", key);
            upsert.Parameters.AddWithValue("$name", name);
            upsert.Parameters.AddWithValue("$total", total);
            upsert.Parameters.AddWithValue("$now", nowMs);
            upsert.ExecuteNonQuery();
            pending++;
        }

        transaction.Commit();
        return pending;
    }

    /// <summary>
    /// The next <see cref="SessionsPerBatch"/> sessions after the request's cursor, inside the writer's transaction: each
    /// one whose row lacks a configured key is completed; the request gets the new cursor and how many it saw. With no
    /// session left, the backfilling keys are marked complete.
    /// </summary>
    public static void RunBatch(SqliteConnection connection, SqliteTransaction transaction, SqliteReadModel readModel, MetricCatalog catalog, WriteRequest.MetricBackfill request, long nowMs)
    {
        var sessions = new List<(SessionInfo Session, SessionSummary Summary)>();
        using (var command = Command(
            connection,
            transaction,
            $"""
            SELECT s.session_id, s.user_id, s.experiment_id, s.model_group, s.start_time, s.end_time, m.through_seq, {SqliteSessionStore.MetricColumns}
            FROM sessions s JOIN session_summaries m ON m.session_id = s.session_id
            WHERE (s.start_time, s.session_id) > ($start, $id)
            ORDER BY s.start_time, s.session_id
            LIMIT $n
            """))
        {
            command.Parameters.AddWithValue("$start", request.AfterStartMs);
            command.Parameters.AddWithValue("$id", request.AfterSessionId);
            command.Parameters.AddWithValue("$n", SessionsPerBatch);
            using var reader = command.ExecuteReader();
            while (reader.Read())
            {
                var session = new SessionInfo(
                    reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetString(3),
                    DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(4)),
                    reader.IsDBNull(5) ? null : DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(5)),
                    "{}");
                sessions.Add((session, SqliteSessionStore.ReadMetrics(reader, 6, session.SessionId)));
            }
        }

        foreach (var (session, summary) in sessions)
        {
            var builder = new SessionSummaryBuilder(summary, countsExclusions: false, custom: Context(connection, transaction, catalog, session));
            if (builder.MissingMetrics.Count == 0)
            {
                continue;
            }

            builder.FoldMissing(StoredEvents(connection, transaction, session.SessionId));
            readModel.Apply(session, new ReadModelUpdate(summary, builder.Snapshot(), []), transaction);
        }

        request.Seen = sessions.Count;
        if (sessions.Count > 0)
        {
            (request.NextStartMs, request.NextSessionId) = (sessions[^1].Session.StartTime.ToUnixTimeMilliseconds(), sessions[^1].Session.SessionId);
            using var progress = Command(connection, transaction, "UPDATE custom_metric_state SET sessions_done = sessions_done + $n WHERE state = 'backfilling'");
            progress.Parameters.AddWithValue("$n", sessions.Count);
            progress.ExecuteNonQuery();
        }
        else
        {
            using var complete = Command(connection, transaction, "UPDATE custom_metric_state SET state = 'complete', completed_at = $now WHERE state = 'backfilling'");
            complete.Parameters.AddWithValue("$now", nowMs);
            complete.ExecuteNonQuery();
        }
    }

    /// <summary>The context the session's grain folds with (<see cref="CustomMetricActivation.ContextAsync"/>), read in the transaction.</summary>
    private static CustomMetricContext Context(SqliteConnection connection, SqliteTransaction transaction, MetricCatalog catalog, SessionInfo session)
    {
        var start = session.StartTime.ToUnixTimeMilliseconds();
        var exposure = catalog.UsesExposure && catalog.UnitOf(session.ExperimentId) == AnalysisUnit.User
            ? SqliteSessionStore.FirstStartOfUser(connection, transaction, session.ExperimentId, session.UserId, start) ?? start
            : start;

        return new CustomMetricContext(catalog.Set, start, exposure);
    }

    internal static List<StoredEvent> StoredEvents(SqliteConnection connection, SqliteTransaction transaction, string sessionId)
    {
        var events = new List<StoredEvent>();
        using var command = Command(connection, transaction, "SELECT first_seq, events FROM event_chunks WHERE session_id = $id ORDER BY last_seq");
        command.Parameters.AddWithValue("$id", sessionId);
        using var reader = command.ExecuteReader();
        while (reader.Read())
        {
            EventChunk.Decode(SqliteSessionStore.ChunkBytes(reader, 1), reader.GetInt64(0), events, static (list, e) => list.Add(e));
        }

        return events;
    }

    private static SqliteCommand Command(SqliteConnection connection, SqliteTransaction transaction, string sql)
    {
        var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        return command;
    }

    private static long Scalar(SqliteConnection connection, SqliteTransaction transaction, string sql)
    {
        using var command = Command(connection, transaction, sql);
        return Convert.ToInt64(command.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Custom metrics: backfilling {Keys} metric(s) over {Total} stored sessions")]
    public static partial void LogStarted(ILogger logger, int keys, long total);

    [LoggerMessage(Level = LogLevel.Information, Message = "Custom metrics: backfill at {Done} of {Total} sessions after {Seconds:F1} s")]
    public static partial void LogProgress(ILogger logger, long done, long total, double seconds);

    [LoggerMessage(Level = LogLevel.Information, Message = "Custom metrics: backfill complete, {Done} sessions in {Seconds:F1} s")]
    public static partial void LogFinished(ILogger logger, long done, double seconds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Custom metrics: a backfill batch failed; retrying")]
    public static partial void LogBatchFailed(ILogger logger, Exception exception);
}
