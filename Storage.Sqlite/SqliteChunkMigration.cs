using System.Diagnostics;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;

namespace SessionTracking.Storage.Sqlite;

/// <summary>
/// Converts a database written with a row per event (<c>session_events</c>) to event chunks, at start-up before the
/// writer takes flushes: sessions in id order, <see cref="SessionsPerTransaction"/> per transaction, each session's
/// events in chunks of <see cref="SqliteChunkAppend.MaxEventsPerChunk"/> (split where numbering has a gap), its old rows
/// deleted in the same transaction, so a restart after a crash goes on where it stopped. The old table is dropped last.
/// </summary>
internal static partial class SqliteChunkMigration
{
    private const int SessionsPerTransaction = 2_000;

    public static void Run(SqliteConnection connection, ILogger logger)
    {
        if (!SqliteSchema.TableExists(connection, "session_events"))
        {
            return;
        }

        var started = Stopwatch.StartNew();
        var total = SqliteSchema.Scalar(connection, "SELECT COUNT(*) FROM session_events");

        LogStarted(logger, total);
        long done = 0;
        using var append = new SqliteChunkAppend(connection);
        while (true)
        {
            using var transaction = connection.BeginTransaction(deferred: false);
            var moved = MoveBatch(connection, transaction, append);
            if (moved == 0)
            {
                transaction.Commit();
                break;
            }

            transaction.Commit();
            done += moved;
            LogProgress(logger, done, total, started.Elapsed.TotalSeconds);
        }

        SqliteSchema.Execute(connection, "DROP TABLE session_events");

        LogFinished(logger, done, started.Elapsed.TotalSeconds);
    }

    /// <summary>Moves the events of the next sessions; returns how many events it moved.</summary>
    private static long MoveBatch(SqliteConnection connection, SqliteTransaction transaction, SqliteChunkAppend append)
    {
        using var read = connection.CreateCommand();
        read.Transaction = transaction;
        read.CommandText = """
            CREATE TEMP TABLE IF NOT EXISTS chunk_migration_batch (session_id TEXT PRIMARY KEY);
            DELETE FROM chunk_migration_batch;
            INSERT INTO chunk_migration_batch
                SELECT DISTINCT session_id FROM session_events ORDER BY session_id LIMIT $n;
            SELECT e.session_id, e.seq, e.t, e.type, e.data, e.client_id, e.received_at, e.corrected_t
            FROM chunk_migration_batch b JOIN session_events e ON e.session_id = b.session_id
            ORDER BY e.session_id, e.seq
            """;
        read.Parameters.AddWithValue("$n", SessionsPerTransaction);
        long moved = 0;
        var run = new List<StoredEvent>();
        string? session = null;
        using (var reader = read.ExecuteReader())
        {
            while (reader.Read())
            {
                var id = reader.GetString(0);
                var e = new StoredEvent(
                    reader.GetInt64(1), reader.GetInt64(2), reader.GetString(3), reader.GetString(4),
                    reader.IsDBNull(5) ? null : reader.GetString(5), reader.GetInt64(6), reader.IsDBNull(7) ? null : reader.GetInt64(7));
                if (id != session || (run.Count > 0 && e.Seq != run[^1].Seq + 1))
                {
                    Flush();
                    session = id;
                }

                run.Add(e);
                moved++;
            }
        }

        Flush();
        using var delete = connection.CreateCommand();
        delete.Transaction = transaction;
        delete.CommandText = "DELETE FROM session_events WHERE session_id IN (SELECT session_id FROM chunk_migration_batch)";
        delete.ExecuteNonQuery();
        return moved;

        void Flush()
        {
            if (run.Count > 0)
            {
                append.Append(session!, run);
                run.Clear();
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Event chunks: converting {Total} stored events (one row each) to chunks")]
    private static partial void LogStarted(ILogger logger, long total);

    [LoggerMessage(Level = LogLevel.Information, Message = "Event chunks: {Done} of {Total} events after {Seconds:F1} s")]
    private static partial void LogProgress(ILogger logger, long done, long total, double seconds);

    [LoggerMessage(Level = LogLevel.Information, Message = "Event chunks: converted {Done} events in {Seconds:F1} s")]
    private static partial void LogFinished(ILogger logger, long done, double seconds);
}
