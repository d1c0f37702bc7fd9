using Microsoft.Data.Sqlite;
using SessionTracking.Metrics;
using SessionTracking.ReadModel;

namespace SessionTracking.Storage.Sqlite;

/// <summary>The single writer connection with its prepared statements; used only by the writer loop.</summary>
internal sealed class SqliteWriter : IDisposable
{
    private const int SqliteConstraint = 19;

    /// <summary>A WAL that grew past this (a burst, a long read holding it) is cut back to it when it restarts.</summary>
    private const long WalSizeLimitBytes = 64L * 1024 * 1024;

    private readonly SqliteConnection _connection;
    private readonly SqliteCommand _savepoint;
    private readonly SqliteCommand _rollbackToSavepoint;
    private readonly SqliteCommand _releaseSavepoint;
    private readonly SqliteCommand _insertSession;
    private readonly SqliteChunkAppend _appendEvents;
    private readonly SqliteCommand _endSession;
    private readonly SqliteCommand _insertQuery;
    private readonly SqliteCommand _insertLegacyEvent;
    private readonly SqliteCommand _checkpoint;
    private readonly MetricCatalog? _metrics;
    private readonly SqliteReadModel _readModel;

    private SqliteWriter(SqliteConnection connection, MetricCatalog metrics)
    {
        _connection = connection;
        _savepoint = Prepare("SAVEPOINT flush");
        _rollbackToSavepoint = Prepare("ROLLBACK TO flush");
        _releaseSavepoint = Prepare("RELEASE flush");
        _insertSession = Prepare(
            """
            INSERT INTO sessions (session_id, user_id, experiment_id, model_group, start_time, end_time, environment)
            VALUES ($session_id, $user_id, $experiment_id, $model_group, $start_time, NULL, $environment)
            """,
            "$session_id", "$user_id", "$experiment_id", "$model_group", "$start_time", "$environment");
        _appendEvents = new SqliteChunkAppend(connection);
        _endSession = Prepare(
            "UPDATE sessions SET end_time = $end_time WHERE session_id = $session_id AND end_time IS NULL",
            "$end_time", "$session_id");
        _insertQuery = Prepare(
            """
            INSERT INTO queries (session_id, user_id, model_group, query, response, model, provider, latency_ms, citations, timestamp)
            VALUES ($session_id, $user_id, $model_group, $query, $response, $model, $provider, $latency_ms, $citations, $timestamp)
            """,
            "$session_id", "$user_id", "$model_group", "$query", "$response", "$model", "$provider", "$latency_ms", "$citations", "$timestamp");
        _insertLegacyEvent = Prepare(
            """
            INSERT INTO events (user_id, session_id, event_type, data, timestamp)
            VALUES ($user_id, $session_id, $event_type, $data, $timestamp)
            """,
            "$user_id", "$session_id", "$event_type", "$data", "$timestamp");
        _checkpoint = Prepare("PRAGMA wal_checkpoint(PASSIVE)");
        _readModel = new SqliteReadModel(connection, metrics);
        _metrics = metrics;
    }

    /// <summary>
    /// Opens the writer connection, on the writer's own thread (synchronously: it has nothing else to do meanwhile);
    /// with <paramref name="autoCheckpoint"/> off, <see cref="SqliteCheckpointer"/> checkpoints.
    /// </summary>
    public static SqliteWriter Open(string connectionString, string synchronous, bool autoCheckpoint, MetricCatalog metrics)
    {
        var connection = new SqliteConnection(connectionString);
        connection.Open();
        using (var pragma = connection.CreateCommand())
        {
            pragma.CommandText = $"PRAGMA journal_mode = WAL; PRAGMA synchronous = {synchronous}; PRAGMA wal_autocheckpoint = {(autoCheckpoint ? 1000 : 0)}; PRAGMA journal_size_limit = {WalSizeLimitBytes};";
            pragma.ExecuteNonQuery();
        }

        return new SqliteWriter(connection, metrics);
    }

    /// <summary>
    /// Applies every request in one transaction, then completes them (off this thread, <see cref="WriteRequest.CompleteAll"/>). Conflicts are rare (two activations of one
    /// session), so the batch first runs without savepoints; only if a constraint fails is it rolled back and rerun
    /// with a savepoint per request, so that the conflicting request fails alone. Returns whether it was rerun.
    /// </summary>
    public bool Commit(List<WriteRequest> batch)
    {
        var isolated = false;
        var outcomes = new Exception?[batch.Count];
        try
        {
            using var transaction = _connection.BeginTransaction(deferred: false);
            _readModel.BeginTransaction(transaction);
            foreach (var request in batch)
            {
                Apply(request, transaction);
            }

            _readModel.WriteAggregates(transaction);
            transaction.Commit();
            _readModel.Committed();
        }
        catch (Exception ex) when (IsConflict(ex))
        {
            CommitIsolated(batch, outcomes);
            isolated = true;
        }

        WriteRequest.CompleteAll(batch, i => outcomes[i]);
        return isolated;
    }

    /// <summary>
    /// Copies into the database file what the background checkpoint left (the frames appended while it ran), so
    /// that the next transaction restarts the WAL instead of appending to it.
    /// </summary>
    public void FinishCheckpoint() => _checkpoint.ExecuteNonQuery();

    private void CommitIsolated(List<WriteRequest> batch, Exception?[] outcomes)
    {
        using var transaction = _connection.BeginTransaction(deferred: false);
        _readModel.BeginTransaction(transaction);
        for (var i = 0; i < batch.Count; i++)
        {
            Run(_savepoint, transaction);
            try
            {
                Apply(batch[i], transaction);
            }
            catch (Exception ex) when (IsConflict(ex))
            {
                Run(_rollbackToSavepoint, transaction);
                _readModel.ForgetCachedRows();
                outcomes[i] = new StoreConflictException(ex is ReadModelConflictException or EventConflictException ? ex.Message : "A row with the same key is already stored.", ex);
            }

            Run(_releaseSavepoint, transaction);
        }

        _readModel.WriteAggregates(transaction);
        transaction.Commit();
        _readModel.Committed();
    }

    public void Dispose()
    {
        foreach (var command in new[] { _savepoint, _rollbackToSavepoint, _releaseSavepoint, _insertSession, _endSession, _insertQuery, _insertLegacyEvent, _checkpoint })
        {
            command.Dispose();
        }

        _appendEvents.Dispose();
        _readModel.Dispose();

        _connection.Dispose();
    }

    private void Apply(WriteRequest request, SqliteTransaction transaction)
    {
        switch (request)
        {
            case WriteRequest.Create create:
                var s = create.Session;
                Run(_insertSession, transaction, s.SessionId, s.UserId, s.ExperimentId, s.ModelGroup, s.StartTime.ToUnixTimeMilliseconds(), s.EnvironmentJson);
                _appendEvents.Append(s.SessionId, create.InitialEvents);

                var samples = new List<MetricSample>();
                var computed = SessionSummary.OfNewSession(create.InitialEvents, samples);
                _readModel.Apply(s, new ReadModelUpdate(null, create.Summary ?? computed, samples), transaction);
                break;
            case WriteRequest.Flush { Batch: var flush }:
                if (flush.SessionId is not null)
                {
                    _appendEvents.Append(flush.SessionId, flush.Events);
                }

                foreach (var q in flush.Queries)
                {
                    WriteQuery(q, transaction);
                }

                foreach (var legacy in flush.LegacyEvents)
                {
                    WriteLegacy(legacy, transaction);
                }

                if (flush.EndTime is { } end && flush.SessionId is not null)
                {
                    Run(_endSession, transaction, end.ToUnixTimeMilliseconds(), flush.SessionId);
                }

                if (flush is { Session: { } session, ReadModel: { ChangesFigures: true } update })
                {
                    _readModel.Apply(session, update, transaction);
                }

                break;
            case WriteRequest.MetricBackfill backfill:
                SqliteMetricBackfill.RunBatch(_connection, transaction, _readModel, _metrics!, backfill, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
                break;
            case WriteRequest.DeleteUser delete:
                delete.Result = SqliteUserDeletion.Run(_connection, transaction, _readModel, delete.UserId);
                break;
        }
    }

    private static bool IsConflict(Exception ex) =>
        ex is ReadModelConflictException or EventConflictException || ex is SqliteException { SqliteErrorCode: SqliteConstraint };

    private void WriteQuery(QueryRow q, SqliteTransaction transaction) =>
        Run(_insertQuery, transaction, q.SessionId, q.UserId, q.ModelGroup, q.Query, q.Response, q.Model, q.Provider, q.LatencyMs, q.CitationsJson, q.Timestamp.ToUnixTimeMilliseconds());

    private void WriteLegacy(LegacyEvent e, SqliteTransaction transaction) =>
        Run(_insertLegacyEvent, transaction, e.UserId, e.SessionId, e.EventType, e.DataJson, e.Timestamp.ToUnixTimeMilliseconds());

    private static void Run(SqliteCommand command, SqliteTransaction transaction, params object?[] values)
    {
        command.Transaction = transaction;
        for (var i = 0; i < values.Length; i++)
        {
            command.Parameters[i].Value = values[i] ?? DBNull.Value;
        }

        command.ExecuteNonQuery();
    }

    private SqliteCommand Prepare(string sql, params string[] parameterNames)
    {
        var command = _connection.CreateCommand();
        command.CommandText = sql;
        foreach (var name in parameterNames)
        {
            command.Parameters.Add(new SqliteParameter { ParameterName = name });
        }

        return command;
    }
}
