using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using SessionTracking.ReadModel;

namespace SessionTracking.Storage.Sqlite;

/// <summary>
/// Builds the read model of a database written before it existed, once, at start-up (before the writer takes flushes):
/// every session's events go through <see cref="SessionSummaryBuilder"/>, the grain's own code, in batches of sessions
/// with one transaction each. <c>PRAGMA user_version</c> records that it ran; an interrupted run starts over. A new
/// version rebuilds a database built by an older one: version 2 applies the value bounds (<see cref="ValueBounds"/>),
/// so values that older versions summed (a latency of 1e308) leave the figures and count as excluded.
/// </summary>
internal static partial class SqliteReadModelBackfill
{
    public const int ReadModelVersion = 2;
    private const int SessionsPerTransaction = 2000;

    public static void Run(SqliteConnection connection, ILogger logger)
    {
        if (SqliteSchema.Scalar(connection, "PRAGMA user_version") >= ReadModelVersion)
        {
            return;
        }

        var total = SqliteSchema.Scalar(connection, "SELECT COUNT(*) FROM sessions");
        LogStarted(logger, total);
        SqliteSchema.Execute(connection, "DELETE FROM session_summaries; DELETE FROM user_summaries; DELETE FROM experiment_moments; DELETE FROM experiment_sketch_bins; DELETE FROM experiment_metric_moments; DELETE FROM experiment_metric_bins; DELETE FROM custom_metric_state;");
        using var readModel = new SqliteReadModel(connection);
        var done = 0L;
        var after = "";
        var started = System.Diagnostics.Stopwatch.StartNew();
        while (true)
        {
            using var transaction = connection.BeginTransaction(deferred: false);
            readModel.BeginTransaction(transaction);
            var last = BackfillBatch(connection, transaction, readModel, after, out var count);
            if (count == 0)
            {
                transaction.Commit();
                break;
            }

            readModel.WriteAggregates(transaction);
            transaction.Commit();
            readModel.Committed();
            done += count;
            after = last!;
            LogProgress(logger, done, total, started.Elapsed.TotalSeconds);
        }

        SqliteSchema.Execute(connection, $"PRAGMA user_version = {ReadModelVersion}");
        LogFinished(logger, done, started.Elapsed.TotalSeconds);
    }

    /// <summary>The next sessions after <paramref name="after"/> in id order; returns the last id.</summary>
    private static string? BackfillBatch(SqliteConnection connection, SqliteTransaction transaction, SqliteReadModel readModel, string after, out int count)
    {
        using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = """
            WITH b AS (SELECT session_id FROM sessions WHERE session_id > $after ORDER BY session_id LIMIT $n)
            SELECT s.session_id, s.user_id, s.experiment_id, s.model_group, s.start_time, s.end_time, s.environment,
                   c.first_seq, c.events
            FROM b JOIN sessions s ON s.session_id = b.session_id
            LEFT JOIN event_chunks c ON c.session_id = s.session_id
            ORDER BY s.session_id, c.last_seq
            """;
        command.Parameters.AddWithValue("$after", after);
        command.Parameters.AddWithValue("$n", SessionsPerTransaction);
        count = 0;
        string? last = null;
        SessionInfo? session = null;
        SessionSummaryBuilder? builder = null;
        var samples = new List<MetricSample>();
        using var reader = command.ExecuteReader();
        while (reader.Read())
        {
            var id = reader.GetString(0);
            if (id != last)
            {
                Complete();
                last = id;
                count++;
                session = new SessionInfo(
                    id, reader.GetString(1), reader.GetString(2), reader.GetString(3),
                    DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(4)),
                    reader.IsDBNull(5) ? null : DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(5)),
                    reader.GetString(6));
                builder = new SessionSummaryBuilder(SessionSummary.Started(), countsExclusions: false);
            }

            if (!reader.IsDBNull(7))
            {
                EventChunk.Decode(SqliteSessionStore.ChunkBytes(reader, 8), reader.GetInt64(7), (builder!, samples), static (state, e) => state.Item1.Add(e, state.samples));
            }
        }

        Complete();
        return last;

        void Complete()
        {
            if (session is null)
            {
                return;
            }

            if (session.EndTime is { } end)
            {
                builder!.End(session.StartTime, end, samples);
            }

            readModel.Apply(session, new ReadModelUpdate(null, builder!.Snapshot(), samples.ToArray()), transaction);
            samples.Clear();
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Read model: building from the stored events of {Total} sessions")]
    private static partial void LogStarted(ILogger logger, long total);

    [LoggerMessage(Level = LogLevel.Information, Message = "Read model: {Done} of {Total} sessions after {Seconds:F1} s")]
    private static partial void LogProgress(ILogger logger, long done, long total, double seconds);

    [LoggerMessage(Level = LogLevel.Information, Message = "Read model: built for {Done} sessions in {Seconds:F1} s")]
    private static partial void LogFinished(ILogger logger, long done, double seconds);
}
