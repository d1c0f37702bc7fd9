namespace SessionTracking.TestSupport;

/// <summary>
/// The events table of databases written before event chunks (a row per event). Tests that build a database "from an
/// earlier version" create it and insert rows; the store converts them to chunks at start-up.
/// </summary>
public static class RowPerEventLayout
{
    public const string CreateTable = """
        CREATE TABLE IF NOT EXISTS session_events (
            session_id  TEXT NOT NULL,
            seq         INTEGER NOT NULL,
            t           INTEGER NOT NULL,
            type        TEXT NOT NULL,
            data        TEXT NOT NULL,
            client_id   TEXT NULL,
            received_at INTEGER NOT NULL,
            PRIMARY KEY (session_id, seq)
        ) WITHOUT ROWID;
        CREATE UNIQUE INDEX IF NOT EXISTS ux_session_events_client
            ON session_events (session_id, client_id) WHERE client_id IS NOT NULL;
        """;
}
