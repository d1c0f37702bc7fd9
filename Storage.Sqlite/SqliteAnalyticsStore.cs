using System.Runtime.CompilerServices;
using System.Text;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Options;
using SessionTracking.Analytics;

namespace SessionTracking.Storage.Sqlite;

/// <summary>
/// Analytics on SQLite: GROUP BY for counts and means, window functions for percentiles, <c>json_extract</c> on the
/// event data. Reads use their own pooled connections (WAL lets them run beside the session writer); the user deletion
/// takes the write lock with <c>BEGIN IMMEDIATE</c> and waits for the writer's current transaction.
/// </summary>
public sealed class SqliteAnalyticsStore : IAnalyticsStore
{
    // A latency counts when it is a JSON number: MongoDB's $avg ignores strings, booleans and missing fields too.
    // (json_type, not typeof(json_extract): JSON true would extract as the integer 1.)
    internal const string Latency = "CASE WHEN json_type(e.data, '$.latency_ms') IN ('integer', 'real') THEN json_extract(e.data, '$.latency_ms') END";
    internal const string Ttft = "CASE WHEN json_type(e.data, '$.ttft_ms') IN ('integer', 'real') THEN json_extract(e.data, '$.ttft_ms') END";

    private readonly string _connectionString;
    private readonly string _synchronous;

    public SqliteAnalyticsStore(IOptions<SqliteStoreOptions> options)
    {
        _synchronous = options.Value.Synchronous;
        _connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = Path.GetFullPath(options.Value.DatabasePath),
            Mode = SqliteOpenMode.ReadWrite,
            Pooling = true,
            DefaultTimeout = 30,
        }.ToString();
    }

    public Task<IReadOnlyList<GroupFigures>> ReadGroupFiguresAsync(string? experimentId, DateTimeOffset? from, DateTimeOffset? to, bool usersAsUnits, CancellationToken cancellationToken) =>
        ReadAsync(connection =>
        {
            // One read transaction: the hourly aggregates and the edge sessions are one snapshot of the database.
            using var transaction = connection.BeginTransaction(deferred: true);
            return Task.FromResult(SqliteGroupFigures.Read(connection, experimentId, from?.ToUnixTimeMilliseconds(), to?.ToUnixTimeMilliseconds(), usersAsUnits));
        }, cancellationToken);

    /// <summary>The first hour with sessions comes from the hourly aggregates; the first start within it from the start-time index.</summary>
    public Task<DateTimeOffset?> ExperimentStartAsync(string experimentId, CancellationToken cancellationToken) =>
        ReadAsync(async connection =>
        {
            await using var command = connection.CreateCommand();
            command.CommandText = """
                SELECT MIN(s.start_time) FROM sessions s
                WHERE s.experiment_id = $experiment
                  AND s.start_time >= (SELECT MIN(hour) FROM experiment_moments WHERE experiment_id = $experiment AND unit = 0) * $hour
                  AND s.start_time < ((SELECT MIN(hour) FROM experiment_moments WHERE experiment_id = $experiment AND unit = 0) + 1) * $hour
                """;
            command.Parameters.AddWithValue("$experiment", experimentId);
            command.Parameters.AddWithValue("$hour", SqliteReadModel.HourMs);
            return await command.ExecuteScalarAsync(cancellationToken) is long ms ? DateTimeOffset.FromUnixTimeMilliseconds(ms) : (DateTimeOffset?)null;
        }, cancellationToken);

    public Task<GuideAverages> GuideAveragesAsync(AnalyticsFilter filter, CancellationToken cancellationToken) =>
        ReadAsync(async connection =>
        {
            await using var command = connection.CreateCommand();
            // Pipeline 1: $unwind events, $match type model_response, $group by model_group, $avg latency_ms.
            // Pipeline 2: $project end − start (null without end_time), $group by model_group, $avg (nulls ignored).
            command.CommandText = $"""
                WITH s AS ({SelectSessions(command, filter)})
                SELECT 'latency', model_group, AVG(v) FROM (
                    SELECT s.model_group, {Latency} AS v
                    FROM s JOIN session_events e ON e.session_id = s.session_id
                    WHERE e.type = 'model_response')
                GROUP BY model_group
                UNION ALL
                SELECT 'duration', model_group, AVG(end_time - start_time) FROM s GROUP BY model_group
                ORDER BY 1, 2
                """;
            var latency = new List<GroupAverage>();
            var duration = new List<GroupAverage>();
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                (reader.GetString(0) == "latency" ? latency : duration).Add(new GroupAverage(reader.GetString(1), NullableDouble(reader, 2)));
            }

            return new GuideAverages(latency, duration);
        }, cancellationToken);

    public Task<IReadOnlyList<SessionListItem>> ListSessionsAsync(AnalyticsFilter filter, int limit, CancellationToken cancellationToken) =>
        ReadAsync<IReadOnlyList<SessionListItem>>(async connection =>
        {
            await using var command = connection.CreateCommand();
            command.CommandText = $"""
                WITH s AS ({SelectSessions(command, filter)})
                SELECT s.session_id, s.user_id, s.experiment_id, s.model_group, s.start_time, s.end_time,
                       (SELECT COUNT(*) FROM session_events e WHERE e.session_id = s.session_id)
                FROM s ORDER BY s.start_time DESC, s.session_id LIMIT $limit
                """;
            command.Parameters.AddWithValue("$limit", limit);
            var items = new List<SessionListItem>();
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                items.Add(new SessionListItem(
                    reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetString(3),
                    DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(4)),
                    reader.IsDBNull(5) ? null : DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(5)),
                    reader.GetInt64(6)));
            }

            return items;
        }, cancellationToken);

    public async IAsyncEnumerable<ExportSession> ExportSessionsAsync(AnalyticsFilter filter, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = $"""
            WITH s AS ({SelectSessions(command, filter, allColumns: true)})
            SELECT s.session_id, s.user_id, s.experiment_id, s.model_group, s.start_time, s.end_time, s.environment,
                   (SELECT COUNT(*) FROM session_events e WHERE e.session_id = s.session_id)
            FROM s ORDER BY s.start_time, s.session_id
            """;
        await using var reader = await ExecuteAsync(command, cancellationToken);
        while (await ReadAsync(reader, cancellationToken))
        {
            yield return new ExportSession(
                new SessionInfo(
                    reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetString(3),
                    DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(4)),
                    reader.IsDBNull(5) ? null : DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(5)),
                    reader.GetString(6)),
                reader.GetInt64(7));
        }
    }

    public async IAsyncEnumerable<ExportEvent> ExportEventsAsync(AnalyticsFilter filter, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = $"""
            WITH s AS ({SelectSessions(command, filter, allColumns: true)})
            SELECT s.session_id, s.user_id, s.experiment_id, s.model_group, e.seq, e.t, e.type, e.data, e.client_id,
                   COALESCE(e.corrected_t, MIN(e.t, e.received_at))
            FROM s JOIN session_events e ON e.session_id = s.session_id
            ORDER BY s.start_time, s.session_id, e.seq
            """;
        await using var reader = await ExecuteAsync(command, cancellationToken);
        while (await ReadAsync(reader, cancellationToken))
        {
            yield return new ExportEvent(
                reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetString(3),
                reader.GetInt64(4), reader.GetInt64(5), reader.GetString(6), reader.GetString(7),
                reader.IsDBNull(8) ? null : reader.GetString(8),
                reader.GetInt64(9));
        }
    }

    public Task<IReadOnlyList<string>> SessionIdsOfUserAsync(string userId, CancellationToken cancellationToken) =>
        ReadAsync<IReadOnlyList<string>>(async connection =>
        {
            await using var command = connection.CreateCommand();
            command.CommandText = "SELECT session_id FROM sessions WHERE user_id = $user";
            command.Parameters.AddWithValue("$user", userId);
            var ids = new List<string>();
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                ids.Add(reader.GetString(0));
            }

            return ids;
        }, cancellationToken);

    public Task<UserDeletion> DeleteUserAsync(string userId, CancellationToken cancellationToken) =>
        Task.Run(() => DeleteUserCoreAsync(userId, cancellationToken), cancellationToken);

    private async Task<UserDeletion> DeleteUserCoreAsync(string userId, CancellationToken cancellationToken)
    {
        try
        {
            await using var connection = await OpenAsync(cancellationToken);
            await using (var pragma = connection.CreateCommand())
            {
                pragma.CommandText = $"PRAGMA synchronous = {_synchronous};";
                await pragma.ExecuteNonQueryAsync(cancellationToken);
            }

            // BEGIN IMMEDIATE: take the write lock first, so the counts and the deletes see the same rows.
            await using var transaction = (SqliteTransaction)await connection.BeginTransactionAsync(cancellationToken);
            const string UserSessions = "SELECT session_id FROM sessions WHERE user_id = $user";
            RemoveFromReadModel(connection, transaction, userId);
            await ExecuteAsync($"DELETE FROM session_summaries WHERE session_id IN ({UserSessions})");
            await ExecuteAsync("DELETE FROM user_summaries WHERE user_id = $user");
            var sessionEvents = await ExecuteAsync($"DELETE FROM session_events WHERE session_id IN ({UserSessions})");
            var queries = await ExecuteAsync($"DELETE FROM queries WHERE user_id = $user OR session_id IN ({UserSessions})");
            var events = await ExecuteAsync($"DELETE FROM events WHERE user_id = $user OR session_id IN ({UserSessions})");
            var sessions = await ExecuteAsync("DELETE FROM sessions WHERE user_id = $user");
            await transaction.CommitAsync(cancellationToken);
            return new UserDeletion(userId, sessions, sessionEvents, queries, events);

            async Task<long> ExecuteAsync(string sql)
            {
                await using var command = connection.CreateCommand();
                command.Transaction = transaction;
                command.CommandText = sql;
                command.Parameters.AddWithValue("$user", userId);
                return await command.ExecuteNonQueryAsync(cancellationToken);
            }
        }
        catch (SqliteException ex)
        {
            throw new StoreUnavailableException($"SQLite deletion failed: {ex.SqliteErrorCode}", ex);
        }
    }

    /// <summary>
    /// Takes the user's sessions out of the experiment aggregates: each session's summary leaves the moments, its durations
    /// and response values leave the sketches (the same values the grain added, read as SqliteGroupFigures reads them).
    /// </summary>
    private static void RemoveFromReadModel(SqliteConnection connection, SqliteTransaction transaction, string userId)
    {
        using var readModel = new SqliteReadModel(connection);
        readModel.BeginTransaction();
        using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = $"""
            SELECT s.session_id, s.experiment_id, s.model_group, s.start_time, m.through_seq, {string.Join(", ", ReadModel.MetricFields.Columns.Select(c => "m." + c))},
                   (SELECT json_group_array(json_array(
                        {Latency},
                        {Ttft}))
                    FROM session_events e WHERE e.session_id = s.session_id AND e.type = 'model_response')
            FROM sessions s JOIN session_summaries m ON m.session_id = s.session_id
            WHERE s.user_id = $user
            """;
        command.Parameters.AddWithValue("$user", userId);
        using var reader = command.ExecuteReader();
        var valuesColumn = 5 + ReadModel.MetricFields.Count;
        while (reader.Read())
        {
            var session = new SessionInfo(reader.GetString(0), userId, reader.GetString(1), reader.GetString(2), DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(3)), null, "{}");
            var summary = SqliteSessionStore.ReadMetrics(reader, 4, session.SessionId);
            var samples = new List<ReadModel.MetricSample>();
            if (summary.Ended)
            {
                samples.Add(new(ReadModel.QuantileMetric.DurationMs, summary[ReadModel.MetricField.DurationMs]));
            }

            using var values = System.Text.Json.JsonDocument.Parse(reader.GetString(valuesColumn));
            foreach (var pair in values.RootElement.EnumerateArray())
            {
                if (pair[0].ValueKind == System.Text.Json.JsonValueKind.Number)
                {
                    samples.Add(new(ReadModel.QuantileMetric.LatencyMs, pair[0].GetDouble()));
                }

                if (pair[1].ValueKind == System.Text.Json.JsonValueKind.Number)
                {
                    samples.Add(new(ReadModel.QuantileMetric.TimeToFirstTokenMs, pair[1].GetDouble()));
                }
            }

            readModel.Remove(session, summary, samples, transaction);
        }

        reader.Close();
        readModel.WriteAggregates(transaction);
    }

    /// <summary>The filter as a parameterised SELECT over sessions; only the conditions that apply, so the indexes serve them.</summary>
    private static string SelectSessions(SqliteCommand command, AnalyticsFilter filter, bool allColumns = false)
    {
        var sql = new StringBuilder(allColumns
            ? "SELECT session_id, user_id, experiment_id, model_group, start_time, end_time, environment FROM sessions WHERE 1"
            : "SELECT session_id, user_id, experiment_id, model_group, start_time, end_time FROM sessions WHERE 1");
        if (filter.ExperimentId is { } experiment)
        {
            sql.Append(" AND experiment_id = $experiment");
            command.Parameters.AddWithValue("$experiment", experiment);
        }

        if (filter.ModelGroup is { } group)
        {
            sql.Append(" AND model_group = $group");
            command.Parameters.AddWithValue("$group", group);
        }

        if (filter.From is { } from)
        {
            sql.Append(" AND start_time >= $from");
            command.Parameters.AddWithValue("$from", from.ToUnixTimeMilliseconds());
        }

        if (filter.To is { } to)
        {
            sql.Append(" AND start_time < $to");
            command.Parameters.AddWithValue("$to", to.ToUnixTimeMilliseconds());
        }

        return sql.ToString();
    }

    private static double? NullableDouble(SqliteDataReader reader, int ordinal) => reader.IsDBNull(ordinal) ? null : reader.GetDouble(ordinal);

    private static async Task<SqliteDataReader> ExecuteAsync(SqliteCommand command, CancellationToken cancellationToken)
    {
        try
        {
            // The first step of an ORDER BY over the whole result sorts it: off the Orleans scheduler.
            return await Task.Run(() => command.ExecuteReaderAsync(cancellationToken), cancellationToken);
        }
        catch (SqliteException ex)
        {
            throw new StoreUnavailableException($"SQLite read failed: {ex.SqliteErrorCode}", ex);
        }
    }

    private static async Task<bool> ReadAsync(SqliteDataReader reader, CancellationToken cancellationToken)
    {
        try
        {
            return await reader.ReadAsync(cancellationToken);
        }
        catch (SqliteException ex)
        {
            throw new StoreUnavailableException($"SQLite read failed: {ex.SqliteErrorCode}", ex);
        }
    }

    /// <summary>
    /// Microsoft.Data.Sqlite's async methods run synchronously: a query of seconds goes to the thread pool, so it neither
    /// blocks the Orleans scheduler nor keeps the report's four queries from running side by side.
    /// </summary>
    private Task<T> ReadAsync<T>(Func<SqliteConnection, Task<T>> read, CancellationToken cancellationToken) =>
        Task.Run(async () =>
        {
            try
            {
                await using var connection = await OpenAsync(cancellationToken);
                return await read(connection);
            }
            catch (SqliteException ex)
            {
                throw new StoreUnavailableException($"SQLite read failed: {ex.SqliteErrorCode}", ex);
            }
        }, cancellationToken);

    private async Task<SqliteConnection> OpenAsync(CancellationToken cancellationToken)
    {
        var connection = new SqliteConnection(_connectionString);
        try
        {
            await connection.OpenAsync(cancellationToken);
            return connection;
        }
        catch (SqliteException ex)
        {
            await connection.DisposeAsync();
            throw new StoreUnavailableException($"SQLite open failed: {ex.SqliteErrorCode}", ex);
        }
    }
}
