using Microsoft.Data.Sqlite;
using SessionTracking.Analytics;
using SessionTracking.ReadModel;

namespace SessionTracking.Storage.Sqlite;

/// <summary>
/// Deletes everything of one user inside the writer's transaction (a <see cref="WriteRequest.DeleteUser"/>): sessions,
/// their event chunks, legacy rows, and their part of the read model. Each session's summary leaves the moments; its
/// duration and its responses' values (<see cref="SqliteReadModel.AddResponseSamples"/>) leave the sketches.
/// </summary>
internal static class SqliteUserDeletion
{
    private const string UserSessions = "SELECT session_id FROM sessions WHERE user_id = $user";

    public static UserDeletion Run(SqliteConnection connection, SqliteTransaction transaction, SqliteReadModel readModel, string userId)
    {
        RemoveFromReadModel(connection, transaction, readModel, userId);
        Execute($"DELETE FROM session_summaries WHERE session_id IN ({UserSessions})");
        Execute("DELETE FROM user_summaries WHERE user_id = $user");
        readModel.ForgetCachedRows();
        var sessionEvents = Scalar($"SELECT COALESCE(SUM(last_seq - first_seq + 1), 0) FROM event_chunks WHERE session_id IN ({UserSessions})");
        Execute($"DELETE FROM event_chunks WHERE session_id IN ({UserSessions})");
        var queries = Execute($"DELETE FROM queries WHERE user_id = $user OR session_id IN ({UserSessions})");
        var events = Execute($"DELETE FROM events WHERE user_id = $user OR session_id IN ({UserSessions})");
        var sessions = Execute("DELETE FROM sessions WHERE user_id = $user");
        return new UserDeletion(userId, sessions, sessionEvents, queries, events);

        long Execute(string sql)
        {
            using var command = Command(sql);
            return command.ExecuteNonQuery();
        }

        long Scalar(string sql)
        {
            using var command = Command(sql);
            return Convert.ToInt64(command.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
        }

        SqliteCommand Command(string sql)
        {
            var command = connection.CreateCommand();
            command.Transaction = transaction;
            command.CommandText = sql;
            command.Parameters.AddWithValue("$user", userId);
            return command;
        }
    }

    private static void RemoveFromReadModel(SqliteConnection connection, SqliteTransaction transaction, SqliteReadModel readModel, string userId)
    {
        var removals = new List<(SessionInfo Session, SessionSummary Summary, List<MetricSample> Samples)>();
        using (var command = connection.CreateCommand())
        {
            command.Transaction = transaction;
            command.CommandText = $"""
                SELECT s.session_id, s.experiment_id, s.model_group, s.start_time, m.through_seq, {SqliteSessionStore.MetricColumns}
                FROM sessions s JOIN session_summaries m ON m.session_id = s.session_id
                WHERE s.user_id = $user
                """;
            command.Parameters.AddWithValue("$user", userId);
            using var reader = command.ExecuteReader();
            while (reader.Read())
            {
                var session = new SessionInfo(reader.GetString(0), userId, reader.GetString(1), reader.GetString(2), DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(3)), null, "{}");
                var summary = SqliteSessionStore.ReadMetrics(reader, 4, session.SessionId);
                var samples = new List<MetricSample>();
                if (summary.Ended)
                {
                    samples.Add(new(QuantileMetric.DurationMs, summary[MetricField.DurationMs]));
                }

                removals.Add((session, summary, samples));
            }
        }

        using (var command = connection.CreateCommand())
        {
            command.Transaction = transaction;
            command.CommandText = "SELECT first_seq, events FROM event_chunks WHERE session_id = $session ORDER BY last_seq";
            var parameter = command.Parameters.Add(new SqliteParameter { ParameterName = "$session" });
            foreach (var (session, _, samples) in removals)
            {
                parameter.Value = session.SessionId;
                using var reader = command.ExecuteReader();
                while (reader.Read())
                {
                    SqliteReadModel.AddResponseSamples(SqliteSessionStore.ChunkBytes(reader, 1), reader.GetInt64(0), samples);
                }
            }
        }

        foreach (var (session, summary, samples) in removals)
        {
            readModel.Remove(session, summary, samples, transaction);
        }
    }
}
