using Microsoft.Data.Sqlite;

namespace SessionTracking.Analytics.Tests;

/// <summary>
/// A fixed dataset written straight into the store's tables, so that start and end times (and thus durations) are
/// exact and every figure can be computed by hand. It is written as a database from before event chunks and the read
/// model (a row per event, user_version 0): the gateway started on it afterwards converts the rows to chunks and builds
/// the read model from them. Experiment exp-a: control (4 sessions, one not ended) and treatment
/// (2 sessions); experiment exp-b: control (1 session, a day later). The hand computations are in the tests.
/// </summary>
public static class Dataset
{
    public const long T0 = 1_700_000_000_000;
    public const long Day = 86_400_000;

    public static void Seed(string databasePath)
    {
        using var connection = new SqliteConnection($"Data Source={databasePath}");
        connection.Open();
        using var transaction = connection.BeginTransaction();
        using (var table = connection.CreateCommand())
        {
            table.Transaction = transaction;
            table.CommandText = SessionTracking.TestSupport.RowPerEventLayout.CreateTable;
            table.ExecuteNonQuery();
        }

        Session("c1", "alice", "exp-a", "control", T0, T0 + 60_000,
            ("prompt", """{"text":"hi"}"""), ("model_response", """{"latency_ms":1000,"ttft_ms":200}"""),
            ("feedback", """{"feedback":"up"}"""), ("copy", """{"selected_text":"x"}"""));
        Session("c2", "bob", "exp-a", "control", T0 + 1000, T0 + 1000 + 120_000,
            ("prompt", "{}"), ("model_response", """{"latency_ms":2000}"""), ("prompt", "{}"),
            ("model_response", """{"latency_ms":3000}"""), ("feedback", """{"feedback":"down"}"""));
        // A latency that is not a number is ignored, as MongoDB's $avg ignores it.
        Session("c3", "carol", "exp-a", "control", T0 + 2000, T0 + 2000 + 30_000,
            ("prompt", "{}"), ("model_response", """{"latency_ms":"fast"}"""), ("feedback", """{"feedback":"up"}"""),
            ("selection", """{"selected_text":"y"}"""));
        Session("c4", "dave", "exp-a", "control", T0 + 3000, null,
            ("prompt", "{}"), ("model_response", """{"latency_ms":4000}"""), ("feedback", """{"feedback":"neutral"}"""));
        Session("t1", "erin", "exp-a", "treatment", T0 + 500, T0 + 500 + 10_000,
            ("prompt", "{}"), ("model_response", """{"latency_ms":500}"""), ("feedback", """{"feedback":"up"}"""),
            ("feedback", """{"feedback":"up"}"""), ("copy", "{}"), ("copy", "{}"));
        Session("t2", "frank", "exp-a", "treatment", T0 + 1500, T0 + 1500 + 20_000,
            ("prompt", "{}"), ("model_response", """{"latency_ms":700,"ttft_ms":100}"""), ("feedback", """{"feedback":"up"}"""));
        Session("b1", "alice", "exp-b", "control", T0 + Day, T0 + Day + 40_000,
            ("prompt", "{}"), ("model_response", """{"latency_ms":6000}"""));
        using (var forget = connection.CreateCommand())
        {
            forget.Transaction = transaction;
            forget.CommandText = "DELETE FROM session_summaries; DELETE FROM user_summaries; DELETE FROM experiment_moments; DELETE FROM experiment_sketch_bins; PRAGMA user_version = 0;";
            forget.ExecuteNonQuery();
        }

        transaction.Commit();

        void Session(string id, string user, string experiment, string group, long start, long? end, params (string Type, string Data)[] events)
        {
            using var command = connection.CreateCommand();
            command.Transaction = transaction;
            command.CommandText = """
                INSERT INTO sessions (session_id, user_id, experiment_id, model_group, start_time, end_time, environment)
                VALUES ($id, $user, $experiment, $group, $start, $end, '{"device":"test, \"quoted\""}')
                """;
            command.Parameters.AddWithValue("$id", id);
            command.Parameters.AddWithValue("$user", user);
            command.Parameters.AddWithValue("$experiment", experiment);
            command.Parameters.AddWithValue("$group", group);
            command.Parameters.AddWithValue("$start", start);
            command.Parameters.AddWithValue("$end", (object?)end ?? DBNull.Value);
            command.ExecuteNonQuery();
            for (var i = 0; i < events.Length; i++)
            {
                using var insert = connection.CreateCommand();
                insert.Transaction = transaction;
                insert.CommandText = """
                    INSERT INTO session_events (session_id, seq, t, type, data, client_id, received_at)
                    VALUES ($id, $seq, $t, $type, $data, $cid, $t)
                    """;
                insert.Parameters.AddWithValue("$id", id);
                insert.Parameters.AddWithValue("$seq", i + 1);
                insert.Parameters.AddWithValue("$t", start + (i + 1) * 1000);
                insert.Parameters.AddWithValue("$type", events[i].Type);
                insert.Parameters.AddWithValue("$data", events[i].Data);
                insert.Parameters.AddWithValue("$cid", $"{id}-e{i + 1}");
                insert.ExecuteNonQuery();
            }
        }
    }
}
