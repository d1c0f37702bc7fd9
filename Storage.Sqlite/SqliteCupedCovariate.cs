using Microsoft.Data.Sqlite;
using SessionTracking.Metrics;

namespace SessionTracking.Storage.Sqlite;

/// <summary>Reads a user's pre-period sessions inside the flush's transaction and folds CUPED's covariate (<see cref="CupedCovariate"/>).</summary>
internal static class SqliteCupedCovariate
{
    public static CustomRow Read(SqliteConnection connection, SqliteTransaction transaction, MetricCatalog catalog, SessionInfo session)
    {
        var start = session.StartTime.ToUnixTimeMilliseconds();
        var exposure = SqliteSessionStore.FirstStartOfUser(connection, transaction, session.ExperimentId, session.UserId, start) ?? start;

        var preStart = exposure - (long)catalog.CupedPrePeriod.TotalMilliseconds;
        var sessions = new List<(string Id, long StartMs)>();
        using (var command = connection.CreateCommand())
        {
            command.Transaction = transaction;
            command.CommandText = "SELECT session_id, start_time FROM sessions WHERE user_id = $user AND start_time >= $from AND start_time < $to ORDER BY start_time, session_id";
            command.Parameters.AddWithValue("$user", session.UserId);
            command.Parameters.AddWithValue("$from", preStart);
            command.Parameters.AddWithValue("$to", exposure);
            using var reader = command.ExecuteReader();
            while (reader.Read())
            {
                sessions.Add((reader.GetString(0), reader.GetInt64(1)));
            }
        }

        return CupedCovariate.Of(
            catalog.Set,
            sessions.Select(s => (s.StartMs, (IReadOnlyList<StoredEvent>)SqliteMetricBackfill.StoredEvents(connection, transaction, s.Id))),
            preStart);
    }
}
