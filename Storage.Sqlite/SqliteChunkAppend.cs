using System.Buffers;
using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace SessionTracking.Storage.Sqlite;

/// <summary>
/// Appends a flush's events as <see cref="EventChunk"/> rows (at most <see cref="MaxEventsPerChunk"/> events each), on
/// SQLitePCL directly with statements prepared once, inside the writer connection's open transaction. Before it writes,
/// it checks that no stored chunk of the session reaches the flush's first sequence number: a second activation that
/// numbered the same events gets <see cref="EventConflictException"/> and the grain reloads. The rowid grows with each
/// insert, so the table's pages fill in commit order; the only page a flush touches per session is its index entry.
/// </summary>
internal sealed class SqliteChunkAppend : IDisposable
{
    /// <summary>A flush larger than this is split, so a page read decodes at most this many events it does not return.</summary>
    public const int MaxEventsPerChunk = 256;

    private const string CheckSql = "SELECT 1 FROM event_chunks WHERE session_id = ?1 AND last_seq >= ?2 LIMIT 1";
    private const string InsertSql = "INSERT INTO event_chunks (session_id, first_seq, last_seq, id_hashes, events) VALUES (?1, ?2, ?3, ?4, ?5)";

    private readonly sqlite3 _database;
    private readonly sqlite3_stmt _check;
    private readonly sqlite3_stmt _insert;

    // Reused by every chunk (the writer is one thread): SQLite copies a bound blob, so no array per chunk.
    private readonly ArrayBufferWriter<byte> _chunk = new(64 * 1024);
    private readonly ArrayBufferWriter<byte> _hashes = new(MaxEventsPerChunk * sizeof(ulong));

    public SqliteChunkAppend(SqliteConnection connection)
    {
        _database = connection.Handle ?? throw new InvalidOperationException("The writer connection is not open.");
        Check(raw.sqlite3_prepare_v3(_database, CheckSql, raw.SQLITE_PREPARE_PERSISTENT, out _check));
        Check(raw.sqlite3_prepare_v3(_database, InsertSql, raw.SQLITE_PREPARE_PERSISTENT, out _insert));
    }

    public void Append(string sessionId, IReadOnlyList<StoredEvent> events)
    {
        if (events.Count == 0)
        {
            return;
        }

        raw.sqlite3_bind_text16(_check, 1, sessionId);
        raw.sqlite3_bind_int64(_check, 2, events[0].Seq);
        var taken = raw.sqlite3_step(_check);
        raw.sqlite3_reset(_check);
        if (taken == raw.SQLITE_ROW)
        {
            throw new EventConflictException(sessionId, events[0].Seq);
        }

        if (taken != raw.SQLITE_DONE)
        {
            Check(taken);
        }

        for (var start = 0; start < events.Count; start += MaxEventsPerChunk)
        {
            var count = Math.Min(MaxEventsPerChunk, events.Count - start);
            raw.sqlite3_bind_text16(_insert, 1, sessionId);
            raw.sqlite3_bind_int64(_insert, 2, events[start].Seq);
            raw.sqlite3_bind_int64(_insert, 3, events[start + count - 1].Seq);
            _hashes.ResetWrittenCount();
            _ = EventChunk.EncodeIdHashes(events, start, count, _hashes)
                ? raw.sqlite3_bind_blob(_insert, 4, _hashes.WrittenSpan)
                : raw.sqlite3_bind_null(_insert, 4);
            _chunk.ResetWrittenCount();
            EventChunk.Encode(events, start, count, _chunk);
            raw.sqlite3_bind_blob(_insert, 5, _chunk.WrittenSpan);
            var result = raw.sqlite3_step(_insert);
            raw.sqlite3_reset(_insert);
            if (result != raw.SQLITE_DONE)
            {
                Check(result);
            }
        }
    }

    public void Dispose()
    {
        _check.Dispose();
        _insert.Dispose();
    }

    /// <summary>Throws the <see cref="SqliteException"/> Microsoft.Data.Sqlite would, with the primary result code.</summary>
    private void Check(int result)
    {
        if (result != raw.SQLITE_OK)
        {
            SqliteException.ThrowExceptionForRC(result & 0xFF, _database);
        }
    }
}

/// <summary>A flush's first sequence number is already stored for its session: another activation wrote first.</summary>
internal sealed class EventConflictException(string sessionId, long firstSeq)
    : Exception($"Session {sessionId} already has events numbered from {firstSeq}.");
