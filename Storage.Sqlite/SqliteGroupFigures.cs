using Microsoft.Data.Sqlite;
using SessionTracking.Metrics;
using SessionTracking.ReadModel;

namespace SessionTracking.Storage.Sqlite;

/// <summary>
/// Reads the read model for a report. Whole start hours inside [from, to) come from the hourly aggregates (a few rows per
/// group and hour, whatever the number of sessions); the sessions of a partial hour at either edge are read one by one
/// from their summaries (and their latency/TTFT values from their model_response events, decoded from their chunks), so any time filter is exact.
/// Users as units: their aggregates when the report covers all time, else the summaries of the window summed per user.
/// </summary>
internal sealed class SqliteGroupFigures
{
    private static readonly string SummaryColumns = string.Join(", ", MetricFields.Columns.Select(c => "m." + c));
    private static readonly string SummedColumns = string.Join(", ", MetricFields.Columns.Select(c => $"SUM(m.{c})"));

    private readonly GroupFigureSums _groups = new();
    private readonly string? _experimentId;
    private readonly MetricSet _metrics;

    private SqliteGroupFigures(string? experimentId, MetricSet metrics)
    {
        _experimentId = experimentId;
        _metrics = metrics;
    }

    public static IReadOnlyList<GroupFigures> Read(SqliteConnection connection, MetricSet metrics, string? experimentId, long? fromMs, long? toMs, bool usersAsUnits)
    {
        var figures = new SqliteGroupFigures(experimentId, metrics);
        var firstHour = fromMs is { } f ? CeilDiv(f, SqliteReadModel.HourMs) : long.MinValue;
        var endHour = toMs is { } t ? FloorDiv(t, SqliteReadModel.HourMs) : long.MaxValue;
        if (firstHour < endHour)
        {
            figures.ReadHours(connection, firstHour, endHour);
            if (fromMs is { } from && from < firstHour * SqliteReadModel.HourMs)
            {
                figures.ReadSessions(connection, from, firstHour * SqliteReadModel.HourMs);
            }

            if (toMs is { } to && endHour * SqliteReadModel.HourMs < to)
            {
                figures.ReadSessions(connection, endHour * SqliteReadModel.HourMs, to);
            }
        }
        else
        {
            figures.ReadSessions(connection, fromMs ?? long.MinValue, toMs ?? long.MaxValue);
        }

        if (usersAsUnits)
        {
            if (fromMs is null && toMs is null)
            {
                figures.ReadUserAggregates(connection);
            }
            else
            {
                figures.ReadUsers(connection, fromMs ?? long.MinValue, toMs ?? long.MaxValue);
            }
        }

        return figures._groups.ToFigures(usersAsUnits);
    }

    private void ReadHours(SqliteConnection connection, long firstHour, long endHour)
    {
        using (var command = Command(connection, "SELECT experiment_id, model_group, moments FROM experiment_moments WHERE unit = 0 AND hour >= $first AND hour < $end"))
        {
            command.Parameters.AddWithValue("$first", firstHour);
            command.Parameters.AddWithValue("$end", endHour);
            using var reader = command.ExecuteReader();
            while (reader.Read())
            {
                EntryOf(reader).Sessions.Add(Moments.FromBytes((byte[])reader.GetValue(2)));
            }
        }

        if (_metrics.StoredMetrics.Count > 0)
        {
            using (var command = Command(connection, "SELECT experiment_id, model_group, metric, moments FROM experiment_metric_moments WHERE unit = 0 AND hour >= $first AND hour < $end"))
            {
                command.Parameters.AddWithValue("$first", firstHour);
                command.Parameters.AddWithValue("$end", endHour);
                using var reader = command.ExecuteReader();
                while (reader.Read())
                {
                    EntryOf(reader).Custom(EntryOf(reader).CustomSessions, reader.GetString(2)).Add(MetricMoments.FromBytes((byte[])reader.GetValue(3)));
                }
            }

            ReadMetricBins(connection, "unit = 0 AND hour >= $first AND hour < $end", firstHour, endHour, users: false);
        }

        using (var command = Command(connection, "SELECT experiment_id, model_group, metric, bin, SUM(count) FROM experiment_sketch_bins WHERE hour >= $first AND hour < $end", "GROUP BY experiment_id, model_group, metric, bin"))
        {
            command.Parameters.AddWithValue("$first", firstHour);
            command.Parameters.AddWithValue("$end", endHour);
            using var reader = command.ExecuteReader();
            while (reader.Read())
            {
                EntryOf(reader).Sketches[reader.GetInt32(2)].AddBin(reader.GetInt32(3), reader.GetInt64(4));
            }
        }
    }

    /// <summary>Sessions starting in [from, to), one by one: their summaries, durations and response values.</summary>
    private void ReadSessions(SqliteConnection connection, long from, long to)
    {
        using (var command = Command(
            connection,
            $"SELECT s.experiment_id, s.model_group, m.custom, {SummaryColumns} FROM sessions s JOIN session_summaries m ON m.session_id = s.session_id WHERE s.start_time >= $from AND s.start_time < $to",
            prefix: "s."))
        {
            command.Parameters.AddWithValue("$from", from);
            command.Parameters.AddWithValue("$to", to);
            using var reader = command.ExecuteReader();
            var values = new double[MetricFields.Count];
            while (reader.Read())
            {
                SqliteReadModel.ReadFields(reader, 3, values);

                var entry = EntryOf(reader);
                entry.Sessions.Add(values);
                if (_metrics.StoredMetrics.Count > 0 && !reader.IsDBNull(2))
                {
                    MetricAggregation.AddChange(_metrics, null, CustomRow.FromBytes((byte[])reader.GetValue(2)), metric => entry.Custom(entry.CustomSessions, metric), withBins: true);
                }
                if (values[(int)MetricField.Ended] > 0)
                {
                    entry.Sketches[(int)QuantileMetric.DurationMs].Add(values[(int)MetricField.DurationMs]);
                }
            }
        }

        // The values of the responses, as the grain reads them (SessionSummaryBuilder: JSON numbers only).
        using (var command = Command(
            connection,
            """
            SELECT s.experiment_id, s.model_group, c.first_seq, c.events
            FROM sessions s JOIN event_chunks c ON c.session_id = s.session_id
            WHERE s.start_time >= $from AND s.start_time < $to
            """,
            prefix: "s."))
        {
            command.Parameters.AddWithValue("$from", from);
            command.Parameters.AddWithValue("$to", to);
            using var reader = command.ExecuteReader();
            var samples = new List<MetricSample>();
            while (reader.Read())
            {
                var entry = EntryOf(reader);
                samples.Clear();
                SqliteReadModel.AddResponseSamples(SqliteSessionStore.ChunkBytes(reader, 3), reader.GetInt64(2), samples);
                foreach (var sample in samples)
                {
                    entry.Sketches[(int)sample.Metric].Add(sample.Value);
                }
            }
        }
    }

    private void ReadUserAggregates(SqliteConnection connection)
    {
        using (var command = Command(connection, $"SELECT experiment_id, model_group, moments FROM experiment_moments WHERE unit = 1 AND hour = {SqliteReadModel.AllHours}"))
        {
            using var reader = command.ExecuteReader();
            while (reader.Read())
            {
                EntryOf(reader).Users.Add(Moments.FromBytes((byte[])reader.GetValue(2)));
            }
        }

        if (_metrics.StoredMetrics.Count > 0)
        {
            using (var command = Command(connection, $"SELECT experiment_id, model_group, metric, moments FROM experiment_metric_moments WHERE unit = 1 AND hour = {SqliteReadModel.AllHours}"))
            {
                using var reader = command.ExecuteReader();
                while (reader.Read())
                {
                    var entry = EntryOf(reader);
                    entry.Custom(entry.CustomUsers, reader.GetString(2)).Add(MetricMoments.FromBytes((byte[])reader.GetValue(3)));
                }
            }

            ReadMetricBins(connection, $"unit = 1 AND hour = {SqliteReadModel.AllHours}", 0, 0, users: true);
        }
    }

    /// <summary>The custom metrics' bin slots of the aggregate rows <paramref name="where"/> selects, summed over hours.</summary>
    private void ReadMetricBins(SqliteConnection connection, string where, long firstHour, long endHour, bool users)
    {
        using var command = Command(connection, $"SELECT experiment_id, model_group, metric, slot, SUM(value) FROM experiment_metric_bins WHERE {where}", "GROUP BY experiment_id, model_group, metric, slot");
        command.Parameters.AddWithValue("$first", firstHour);
        command.Parameters.AddWithValue("$end", endHour);
        using var reader = command.ExecuteReader();
        while (reader.Read())
        {
            var entry = EntryOf(reader);
            entry.Custom(users ? entry.CustomUsers : entry.CustomSessions, reader.GetString(2)).Add(reader.GetInt64(3), reader.GetDouble(4));
        }
    }

    /// <summary>Users as units within a window: each user's sessions in it, summed.</summary>
    private void ReadUsers(SqliteConnection connection, long from, long to)
    {
        ReadUsersCustom(connection, from, to);
        using var command = Command(
            connection,
            $"SELECT s.experiment_id, s.model_group, {SummedColumns} FROM sessions s JOIN session_summaries m ON m.session_id = s.session_id WHERE s.start_time >= $from AND s.start_time < $to",
            "GROUP BY s.experiment_id, s.model_group, s.user_id",
            prefix: "s.");
        command.Parameters.AddWithValue("$from", from);
        command.Parameters.AddWithValue("$to", to);
        using var reader = command.ExecuteReader();
        var values = new double[MetricFields.Count];
        while (reader.Read())
        {
            SqliteReadModel.ReadFields(reader, 2, values);

            EntryOf(reader).Users.Add(values);
        }
    }

    /// <summary>Users as units within a window, custom metrics: each user's custom rows of the window's sessions, summed.</summary>
    private void ReadUsersCustom(SqliteConnection connection, long from, long to)
    {
        if (_metrics.StoredMetrics.Count == 0)
        {
            return;
        }

        using var command = Command(
            connection,
            "SELECT s.experiment_id, s.model_group, s.user_id, m.custom FROM sessions s JOIN session_summaries m ON m.session_id = s.session_id WHERE s.start_time >= $from AND s.start_time < $to AND m.custom IS NOT NULL",
            "ORDER BY s.experiment_id, s.model_group, s.user_id",
            prefix: "s.");
        command.Parameters.AddWithValue("$from", from);
        command.Parameters.AddWithValue("$to", to);
        using var reader = command.ExecuteReader();
        GroupFigureSums.Group? entry = null;
        (string, string, string)? user = null;
        var row = CustomRow.Empty;
        while (reader.Read())
        {
            var key = (reader.GetString(0), reader.GetString(1), reader.GetString(2));
            if (key != user)
            {
                Complete();
                user = key;
                entry = EntryOf(reader);
                row = CustomRow.Empty;
            }

            row = row.Plus(CustomRow.FromBytes((byte[])reader.GetValue(3)));
        }

        Complete();

        void Complete()
        {
            if (entry is not null && !row.IsEmpty)
            {
                var target = entry;
                MetricAggregation.AddChange(_metrics, null, row, metric => target.Custom(target.CustomUsers, metric), withBins: true);
            }
        }
    }

    private SqliteCommand Command(SqliteConnection connection, string sql, string? suffix = null, string prefix = "")
    {
        var command = connection.CreateCommand();
        if (_experimentId is not null)
        {
            sql += $" AND {prefix}experiment_id = $experiment";
            command.Parameters.AddWithValue("$experiment", _experimentId);
        }

        command.CommandText = suffix is null ? sql : sql + " " + suffix;
        return command;
    }

    private GroupFigureSums.Group EntryOf(SqliteDataReader reader) => _groups.Of(reader.GetString(0), reader.GetString(1));

    private static long FloorDiv(long a, long b) => a / b - (a % b < 0 ? 1 : 0);

    private static long CeilDiv(long a, long b) => -FloorDiv(-a, b);
}
