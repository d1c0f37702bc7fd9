namespace SessionTracking.Storage.Sqlite;

/// <summary>
/// Tables mirror the guide's collections. Events live in their own table keyed by (session_id, seq) so a flush
/// only appends rows: the primary key doubles as the guard against two activations numbering the same event.
/// Times are Unix milliseconds (UTC).
/// The analytics read model responses by type; a partial index holds only those. An index over every event's type
/// (the first schema) put a second B-tree page into the WAL for every interaction event written: ~7 KB of WAL per
/// event at the benchmark's rate, half of it that index.
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
    ];

    /// <summary>Adds the <see cref="AddedColumns"/> an existing database lacks; returns the names of those it added.</summary>
    public static IReadOnlyList<string> AddMissingColumns(Microsoft.Data.Sqlite.SqliteConnection connection)
    {
        var added = new List<string>();
        foreach (var (table, column, definition) in AddedColumns)
        {
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
        CREATE TABLE IF NOT EXISTS session_events (
            session_id  TEXT NOT NULL,
            seq         INTEGER NOT NULL,
            t           INTEGER NOT NULL,
            type        TEXT NOT NULL,
            data        TEXT NOT NULL,
            client_id   TEXT NULL,
            received_at INTEGER NOT NULL,
            corrected_t INTEGER NULL,
            PRIMARY KEY (session_id, seq)
        ) WITHOUT ROWID;
        CREATE UNIQUE INDEX IF NOT EXISTS ux_session_events_client
            ON session_events (session_id, client_id) WHERE client_id IS NOT NULL;
        DROP INDEX IF EXISTS ix_session_events_type;
        CREATE INDEX IF NOT EXISTS ix_session_events_responses ON session_events (session_id) WHERE type = 'model_response';
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
