using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace SessionTracking.Storage.Sqlite;

/// <summary>
/// The statement the writer runs once per event, on SQLitePCL directly: bound by position, strings as UTF-16 (SQLite
/// converts them in C). Through Microsoft.Data.Sqlite every row also created a data reader, looked each parameter up by
/// name, boxed the numbers and transcoded every string in managed code: ~20 % of the writer thread in the batch benchmark.
/// It runs inside the writer connection's open transaction like any other statement.
/// </summary>
internal sealed class SqliteEventInsert : IDisposable
{
    private const string Sql = """
        INSERT INTO session_events (session_id, seq, t, type, data, client_id, received_at, corrected_t)
        VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
        """;

    private readonly sqlite3 _database;
    private readonly sqlite3_stmt _statement;

    public SqliteEventInsert(SqliteConnection connection)
    {
        _database = connection.Handle ?? throw new InvalidOperationException("The writer connection is not open.");
        Check(raw.sqlite3_prepare_v3(_database, Sql, raw.SQLITE_PREPARE_PERSISTENT, out _statement));
    }

    public void Insert(string? sessionId, StoredEvent e)
    {
        BindText(1, sessionId);
        raw.sqlite3_bind_int64(_statement, 2, e.Seq);
        raw.sqlite3_bind_int64(_statement, 3, e.T);
        BindText(4, e.Type);
        BindText(5, e.DataJson);
        BindText(6, e.ClientId);
        raw.sqlite3_bind_int64(_statement, 7, e.ReceivedAt);
        _ = e.CorrectedTime is { } corrected ? raw.sqlite3_bind_int64(_statement, 8, corrected) : raw.sqlite3_bind_null(_statement, 8);
        var result = raw.sqlite3_step(_statement);
        raw.sqlite3_reset(_statement);
        if (result != raw.SQLITE_DONE)
        {
            Check(result);
        }
    }

    public void Dispose() => _statement.Dispose();

    private void BindText(int index, string? value) =>
        _ = value is null ? raw.sqlite3_bind_null(_statement, index) : raw.sqlite3_bind_text16(_statement, index, value);

    /// <summary>Throws the <see cref="SqliteException"/> Microsoft.Data.Sqlite would, with the primary result code.</summary>
    private void Check(int result)
    {
        if (result != raw.SQLITE_OK)
        {
            SqliteException.ThrowExceptionForRC(result & 0xFF, _database);
        }
    }
}
