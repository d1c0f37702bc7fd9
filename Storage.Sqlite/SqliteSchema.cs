namespace SessionTracking.Storage.Sqlite;

/// <summary>
/// Tables mirror the guide's collections, except events: a session's events are stored as the chunks its flushes wrote
/// (<c>event_chunks</c>, one row per flush and session, see <see cref="EventChunk"/>), appended in commit order and
/// indexed once per chunk by (session_id, last_seq). A row per event keyed by (session_id, seq), with a client-id index
/// entry per event, made every group commit write B-tree pages scattered over every session it touched
/// (docs/architecture.md). Times are Unix milliseconds (UTC). Databases from before are converted at start-up
/// (<see cref="SqliteChunkMigration"/>).
/// </summary>
internal static class SqliteSchema
{
    public static readonly string Create = Tables + SqliteReadModel.Schema();

    /// <summary>
    /// Columns added after the first release, as (table, column, definition). <c>CREATE TABLE IF NOT EXISTS</c> leaves an
    /// existing table as it is, so a database file written before a column existed gets it here, at start-up, before
    /// the writer takes flushes. Adding a NULL-able column only rewrites the table's schema entry, not its rows: old
    /// rows read NULL (for <c>corrected_t</c>: "stored before the correction existed", see <see cref="StoredEvent.EventTime"/>).
    /// </summary>
    private static readonly (string Table, string Column, string Definition)[] AddedColumns =
    [
        ("session_events", "corrected_t", "INTEGER NULL"),

        // Read-model fields appended to MetricField after its first release: 0 until the backfill rebuilds the read
        // model (its version moves with them).
        ("session_summaries", "excluded_values", "REAL NOT NULL DEFAULT 0"),
        ("user_summaries", "excluded_values", "REAL NOT NULL DEFAULT 0"),

        // Custom metrics (docs/custom-metrics.md): NULL until a session is folded with a metric set.
        ("session_summaries", "custom", "BLOB NULL"),
        ("user_summaries", "custom", "BLOB NULL"),
        ("user_summaries", "covariate", "BLOB NULL"),
    ];

    /// <summary>Adds the <see cref="AddedColumns"/> an existing database lacks; returns the names of those it added.</summary>
    public static IReadOnlyList<string> AddMissingColumns(Microsoft.Data.Sqlite.SqliteConnection connection)
    {
        var added = new List<string>();
        foreach (var (table, column, definition) in AddedColumns)
        {
            if (!TableExists(connection, table))
            {
                continue; // session_events is only there in a database the chunk migration has not converted yet
            }

            using var exists = connection.CreateCommand();
            exists.CommandText = "SELECT COUNT(*) FROM pragma_table_info($table) WHERE name = $column";
            exists.Parameters.AddWithValue("$table", table);
            exists.Parameters.AddWithValue("$column", column);
            if (Convert.ToInt64(exists.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture) > 0)
            {
                continue;
            }

            using var alter = connection.CreateCommand();
            alter.CommandText = $"ALTER TABLE {table} ADD COLUMN {column} {definition}";
            alter.ExecuteNonQuery();
            added.Add($"{table}.{column}");
        }

        return added;
    }

    /// <summary>Runs one statement without parameters outside any transaction (start-up steps) and returns its number.</summary>
    public static long Scalar(Microsoft.Data.Sqlite.SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return Convert.ToInt64(command.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>Runs statements without parameters outside any transaction (start-up steps).</summary>
    public static void Execute(Microsoft.Data.Sqlite.SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    public static bool TableExists(Microsoft.Data.Sqlite.SqliteConnection connection, string table)
    {
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = $table";
        command.Parameters.AddWithValue("$table", table);
        return Convert.ToInt64(command.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture) > 0;
    }

    private const string Tables = """
        PRAGMA journal_mode = WAL;
        CREATE TABLE IF NOT EXISTS sessions (
            session_id    TEXT PRIMARY KEY,
            user_id       TEXT NOT NULL,
            experiment_id TEXT NOT NULL,
            model_group   TEXT NOT NULL,
            start_time    INTEGER NOT NULL,
            end_time      INTEGER NULL,
            environment   TEXT NOT NULL
        );
        CREATE INDEX IF NOT EXISTS ix_sessions_experiment ON sessions (experiment_id, model_group, start_time);
        CREATE INDEX IF NOT EXISTS ix_sessions_user ON sessions (user_id);
        CREATE INDEX IF NOT EXISTS ix_sessions_start ON sessions (start_time);
        CREATE TABLE IF NOT EXISTS event_chunks (
            chunk_id   INTEGER PRIMARY KEY,
            session_id TEXT NOT NULL,
            first_seq  INTEGER NOT NULL,
            last_seq   INTEGER NOT NULL,
            id_hashes  BLOB NULL,
            events     BLOB NOT NULL
        );
        CREATE UNIQUE INDEX IF NOT EXISTS ux_event_chunks_session ON event_chunks (session_id, last_seq);
        CREATE TABLE IF NOT EXISTS queries (
            id          INTEGER PRIMARY KEY AUTOINCREMENT,
            session_id  TEXT NULL,
            user_id     TEXT NULL,
            model_group TEXT NULL,
            query       TEXT NOT NULL,
            response    TEXT NOT NULL,
            model       TEXT NOT NULL,
            provider    TEXT NOT NULL,
            latency_ms  INTEGER NOT NULL,
            citations   TEXT NOT NULL,
            timestamp   INTEGER NOT NULL
        );
        CREATE INDEX IF NOT EXISTS ix_queries_session ON queries (session_id);
        CREATE INDEX IF NOT EXISTS ix_queries_user ON queries (user_id);
        CREATE TABLE IF NOT EXISTS events (
            id         INTEGER PRIMARY KEY AUTOINCREMENT,
            user_id    TEXT NOT NULL,
            session_id TEXT NULL,
            event_type TEXT NOT NULL,
            data       TEXT NOT NULL,
            timestamp  INTEGER NOT NULL
        );
        CREATE INDEX IF NOT EXISTS ix_events_user ON events (user_id);
        """;
}
