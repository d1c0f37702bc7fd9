using System.Threading.Channels;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using SessionTracking.Metrics;
using SessionTracking.ReadModel;

namespace SessionTracking.Storage.Sqlite;

/// <summary>
/// SQLite adapter (WAL). All writes go through one writer connection fed by a queue: the writer takes every
/// request waiting and commits them in one transaction, so flushes of many sessions share one fsync
/// (group commit across sessions). Each request runs in its own savepoint, so one conflicting flush fails
/// alone. The grains' reads (snapshots, events, client ids) run on dedicated reader threads with their own connections
/// (<see cref="SqliteReaders"/>), which WAL lets run beside the writer; only the health check opens a pooled connection.
/// </summary>
public sealed partial class SqliteSessionStore : ISessionStore, IAsyncDisposable
{
    private const int MaxRequestsPerTransaction = 512;

    /// <summary>Two: reads are short (an index seek and a few chunks); more threads than cores would only queue in SQLite.</summary>
    private const int ReaderThreads = 2;

    private readonly Channel<WriteRequest> _writes = Channel.CreateUnbounded<WriteRequest>(
        new UnboundedChannelOptions { SingleReader = true });
    private readonly string _connectionString;
    private readonly SqliteStoreOptions _options;
    private readonly ILogger<SqliteSessionStore> _logger;
    private readonly SemaphoreSlim _initLock = new(1, 1);
    private SqliteReaders? _readers;
    private Task? _writerLoop;
    private SqliteCheckpointer? _checkpointer;
    private Task? _metricBackfill;
    private readonly CancellationTokenSource _stopping = new();

    /// <param name="metrics">The custom metrics the writer aggregates (none when not given).</param>
    public SqliteSessionStore(IOptions<SqliteStoreOptions> options, ILogger<SqliteSessionStore> logger, MetricCatalog? metrics = null)
    {
        _options = options.Value;
        _logger = logger;
        Metrics = metrics ?? MetricCatalog.None;
        var path = Path.GetFullPath(_options.DatabasePath);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        _connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Cache = SqliteCacheMode.Private,
            Pooling = true,
            DefaultTimeout = 5,
        }.ToString();
        DatabasePath = path;
    }

    public string DatabasePath { get; }

    /// <summary>The custom metrics this store aggregates and reports.</summary>
    public MetricCatalog Metrics { get; }

    private SqliteReaders Readers => _readers ?? throw new InvalidOperationException("The SQLite store was not initialized.");

    /// <summary>Where tests watch or hold the writer loop (<see cref="IWriterHooks"/>); none in the product.</summary>
    internal IWriterHooks Hooks { get; set; } = IWriterHooks.None;

    /// <summary>For tests: one background checkpoint pass now, on the calling thread, whatever the interval.</summary>
    internal void RunCheckpointPass() => Checkpointer.RunPasses(maxPasses: 1);

    /// <summary>For tests: what one tick of the background checkpoint does, now; returns how many passes it made.</summary>
    internal int RunCheckpointTick()
    {
        Checkpointer.RunPasses();
        return Checkpointer.PassesInLastTick;
    }

    private SqliteCheckpointer Checkpointer =>
        _checkpointer ?? throw new InvalidOperationException("The background checkpoint is off (CheckpointInterval is zero).");

    public async Task InitializeAsync(CancellationToken cancellationToken)
    {
        await _initLock.WaitAsync(cancellationToken);
        try
        {
            if (_writerLoop is not null)
            {
                return;
            }

            await using var connection = await OpenAsync(cancellationToken);
            await using (var command = connection.CreateCommand())
            {
                command.CommandText = SqliteSchema.Create;
                await command.ExecuteNonQueryAsync(cancellationToken);
            }

            foreach (var column in SqliteSchema.AddMissingColumns(connection))
            {
                LogColumnAdded(_logger, column, DatabasePath);
            }

            SqliteChunkMigration.Run(connection, _logger);
            SqliteReadModelBackfill.Run(connection, _logger);
            var backfillMetrics = SqliteMetricBackfill.Prepare(connection, Metrics, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
            _readers = new SqliteReaders(_connectionString, ReaderThreads);

            // Its own thread: SQLite calls block (Microsoft.Data.Sqlite's async methods run synchronously), and a thread
            // pool thread blocked in commits leaves a 2-core machine's pool (two threads) one thread for everything else.
            _writerLoop = Task.Factory.StartNew(WriterLoop, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
            if (_options.CheckpointInterval > TimeSpan.Zero)
            {
                _checkpointer = new SqliteCheckpointer(_connectionString, _options.CheckpointInterval, _logger);
                _checkpointer.Start();
            }

            if (backfillMetrics > 0)
            {
                var total = SqliteSchema.Scalar(connection, "SELECT COUNT(*) FROM sessions");
                _metricBackfill = Task.Run(() => BackfillMetricsAsync(backfillMetrics, total));
            }

            LogInitialized(_logger, DatabasePath);
        }
        finally
        {
            _initLock.Release();
        }
    }

    public Task CreateSessionAsync(SessionInfo session, IReadOnlyList<StoredEvent> initialEvents, SessionSummary? summary, CancellationToken cancellationToken) =>
        EnqueueAsync(new WriteRequest.Create(session, initialEvents, summary), cancellationToken);

    public Task<DateTimeOffset?> FirstStartOfUserAsync(string experimentId, string userId, DateTimeOffset notAfter, CancellationToken cancellationToken) =>
        Readers.RunAsync(
            connection => FirstStartOfUser(connection.Sqlite, null, experimentId, userId, notAfter.ToUnixTimeMilliseconds()) is { } first ? DateTimeOffset.FromUnixTimeMilliseconds(first) : (DateTimeOffset?)null,
            cancellationToken);

    /// <summary>
    /// The user's first exposure (<see cref="ISessionStore.FirstStartOfUserAsync"/>), Unix ms, on any connection: a reader,
    /// or the writer's transaction (the backfill's fold context, CUPED's pre-period).
    /// </summary>
    internal static long? FirstStartOfUser(SqliteConnection connection, SqliteTransaction? transaction, string experimentId, string userId, long notAfterMs)
    {
        using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = "SELECT MIN(start_time) FROM sessions WHERE user_id = $user AND experiment_id = $experiment AND start_time <= $not_after";
        command.Parameters.AddWithValue("$user", userId);
        command.Parameters.AddWithValue("$experiment", experimentId);
        command.Parameters.AddWithValue("$not_after", notAfterMs);
        return command.ExecuteScalar() as long?;
    }

    public Task AppendAsync(SessionFlush flush, CancellationToken cancellationToken) =>
        EnqueueAsync(new WriteRequest.Flush(flush), cancellationToken);

    /// <summary>Deletes a user's sessions, events, legacy rows and read-model share in one of the writer's transactions.</summary>
    internal async Task<Analytics.UserDeletion> DeleteUserAsync(string userId, CancellationToken cancellationToken)
    {
        var request = new WriteRequest.DeleteUser(userId);
        await EnqueueAsync(request, cancellationToken);
        return request.Result ?? throw new InvalidOperationException("The writer completed a deletion without its result.");
    }

    public Task WriteLegacyRowsAsync(IReadOnlyList<QueryRow> queries, IReadOnlyList<LegacyEvent> legacyEvents, CancellationToken cancellationToken) =>
        EnqueueAsync(new WriteRequest.Flush(new SessionFlush(SessionId: null, [], queries, legacyEvents, EndTime: null)), cancellationToken);

    public Task<SessionSnapshot?> LoadSessionAsync(string sessionId, int recentIdCount, CancellationToken cancellationToken) =>
        Readers.RunAsync(connection =>
        {
            var command = connection.Command($"""
                SELECT s.user_id, s.experiment_id, s.model_group, s.start_time, s.end_time, s.environment,
                       (SELECT COALESCE(MAX(last_seq), 0) FROM event_chunks WHERE session_id = $id),
                       m.through_seq, {MetricColumns}
                FROM sessions s LEFT JOIN session_summaries m ON m.session_id = s.session_id
                WHERE s.session_id = $id
                """);
            command.Parameters.AddWithValue("$id", sessionId);
            SessionInfo session;
            long lastSeq;
            SessionSummary metrics;
            using (var reader = command.ExecuteReader())
            {
                if (!reader.Read())
                {
                    return null;
                }

                session = new SessionInfo(
                    sessionId,
                    reader.GetString(0),
                    reader.GetString(1),
                    reader.GetString(2),
                    DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(3)),
                    reader.IsDBNull(4) ? null : DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(4)),
                    reader.GetString(5));
                lastSeq = reader.GetInt64(6);
                metrics = ReadMetrics(reader, 7, sessionId);
            }

            var ids = new List<string>();
            if (recentIdCount > 0 && lastSeq > 0)
            {
                var from = Math.Max(0, lastSeq - recentIdCount);
                foreach (var e in ReadEvents(connection, sessionId, from, recentIdCount))
                {
                    if (e.ClientId is { } id)
                    {
                        ids.Add(id);
                    }
                }
            }

            return new SessionSnapshot(session, lastSeq, ids, metrics);
        }, cancellationToken);

    /// <summary>The read-model columns <see cref="ReadMetrics"/> reads, after <c>m.through_seq</c>: the fields, then the custom row.</summary>
    internal static readonly string MetricColumns = string.Join(", ", MetricFields.Columns.Select(c => "m." + c)) + ", m.custom";

    /// <summary>A session_summaries row read at <paramref name="ordinal"/> (through_seq, then the fields).</summary>
    internal static SessionSummary ReadMetrics(SqliteDataReader reader, int ordinal, string sessionId)
    {
        if (reader.IsDBNull(ordinal))
        {
            // Every session gets its row with its creation, and the start-up backfill gave older sessions theirs.
            throw new StoreUnavailableException($"Session {sessionId} has no read-model row.");
        }

        var values = new double[MetricFields.Count];
        SqliteReadModel.ReadFields(reader, ordinal + 1, values);
        var custom = ordinal + 1 + values.Length;
        return new SessionSummary(reader.GetInt64(ordinal), values, reader.IsDBNull(custom) ? null : CustomRow.FromBytes((byte[])reader.GetValue(custom)));
    }

    public Task<IReadOnlyList<StoredEvent>> ReadEventsAsync(string sessionId, long afterSeq, int limit, CancellationToken cancellationToken) =>
        Readers.RunAsync(connection => ReadEvents(connection, sessionId, afterSeq, limit), cancellationToken);

    /// <summary>Events with seq &gt; <paramref name="afterSeq"/>, at most <paramref name="limit"/>: the chunks that reach past it, decoded in order.</summary>
    private static IReadOnlyList<StoredEvent> ReadEvents(SqliteReaders.Connection connection, string sessionId, long afterSeq, int limit)
    {
        var command = connection.Command("SELECT first_seq, events FROM event_chunks WHERE session_id = $id AND last_seq > $after ORDER BY last_seq");
        command.Parameters.AddWithValue("$id", sessionId);
        command.Parameters.AddWithValue("$after", afterSeq);
        var page = new EventPage(afterSeq, limit);
        using var reader = command.ExecuteReader();
        while (page.Events.Count < limit && reader.Read())
        {
            EventChunk.Decode(ChunkBytes(reader, 1), reader.GetInt64(0), page, static (p, e) => p.Add(e));
        }

        return page.Events;
    }

    public Task<IReadOnlyCollection<ulong>> ReadClientIdHashesAsync(string sessionId, CancellationToken cancellationToken) =>
        Readers.RunAsync<IReadOnlyCollection<ulong>>(connection =>
        {
            var command = connection.Command("SELECT id_hashes FROM event_chunks WHERE session_id = $id AND id_hashes IS NOT NULL");
            command.Parameters.AddWithValue("$id", sessionId);
            var hashes = new List<ulong>();
            using var reader = command.ExecuteReader();
            while (reader.Read())
            {
                EventChunk.ReadIdHashes(ChunkBytes(reader, 0), hashes);
            }

            return hashes;
        }, cancellationToken);

    /// <summary>
    /// Reads the id hashes of the session's chunks, newest first, and decodes only the chunks holding a wanted hash, where
    /// the ids themselves are compared: no index entry per event, and a hash collision costs a decode, never a wrong
    /// answer. Stops once every id is found: a resend is usually of recent events, so it reads the session's tail, not all of it.
    /// </summary>
    public Task<IReadOnlyCollection<string>> FindStoredClientIdsAsync(string sessionId, IReadOnlyCollection<string> clientIds, CancellationToken cancellationToken)
    {
        if (clientIds.Count == 0)
        {
            return Task.FromResult<IReadOnlyCollection<string>>([]);
        }

        return Readers.RunAsync<IReadOnlyCollection<string>>(connection =>
        {
            var wanted = clientIds.Select(ClientIdHash.Of).ToHashSet();
            var ids = clientIds as IReadOnlySet<string> ?? clientIds.ToHashSet(StringComparer.Ordinal);
            var found = new HashSet<string>(StringComparer.Ordinal);
            var command = connection.Command(
                "SELECT first_seq, id_hashes, events FROM event_chunks WHERE session_id = $id AND id_hashes IS NOT NULL ORDER BY last_seq DESC");
            command.Parameters.AddWithValue("$id", sessionId);
            using var reader = command.ExecuteReader();
            while (found.Count < ids.Count && reader.Read())
            {
                if (!EventChunk.ContainsAnyHash(ChunkBytes(reader, 1), wanted))
                {
                    continue; // the events column of a chunk without a wanted hash is never read
                }

                foreach (var e in EventChunk.Decode(ChunkBytes(reader, 2), reader.GetInt64(0)))
                {
                    if (e.ClientId is { } id && ids.Contains(id))
                    {
                        found.Add(id);
                    }
                }
            }

            return found;
        }, cancellationToken);
    }

    /// <summary>A BLOB column's bytes.</summary>
    internal static byte[] ChunkBytes(SqliteDataReader reader, int ordinal) => (byte[])reader.GetValue(ordinal);

    /// <summary>Collects a page: events after the cursor, up to the limit.</summary>
    private sealed class EventPage(long afterSeq, int limit)
    {
        public List<StoredEvent> Events { get; } = new(Math.Min(limit, 1024));

        public void Add(StoredEvent e)
        {
            if (e.Seq > afterSeq && Events.Count < limit)
            {
                Events.Add(e);
            }
        }
    }

    public async Task<bool> IsHealthyAsync(CancellationToken cancellationToken)
    {
        try
        {
            await ReadAsync(async connection =>
            {
                await using var command = connection.CreateCommand();
                command.CommandText = "SELECT COUNT(*) FROM sessions WHERE 0";
                return await command.ExecuteScalarAsync(cancellationToken);
            }, cancellationToken);
            return _writerLoop is { IsCompleted: false } && IsWritable();
        }
        catch (StoreUnavailableException)
        {
            return false;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync();
        if (_metricBackfill is not null)
        {
            await _metricBackfill;
        }

        _writes.Writer.TryComplete();
        if (_writerLoop is not null)
        {
            await _writerLoop;
        }

        if (Interlocked.Exchange(ref _readers, null) is { } readers)
        {
            await readers.DisposeAsync();
        }

        // The container may dispose the store twice (it is registered as itself and as ISessionStore).
        if (Interlocked.Exchange(ref _checkpointer, null) is { } checkpointer)
        {
            await checkpointer.DisposeAsync();
        }

        SqliteConnection.ClearAllPools();
    }

    private bool IsWritable()
    {
        try
        {
            return !new FileInfo(DatabasePath).IsReadOnly;
        }
        catch (IOException)
        {
            return false;
        }
    }

    private async Task EnqueueAsync(WriteRequest request, CancellationToken cancellationToken)
    {
        if (_writerLoop is null)
        {
            throw new InvalidOperationException("The SQLite store was not initialized.");
        }

        if (!_writes.Writer.TryWrite(request))
        {
            throw new StoreUnavailableException("The SQLite store is shutting down.");
        }

        await request.Completion.Task.WaitAsync(cancellationToken);
    }

    private async Task<T> ReadAsync<T>(Func<SqliteConnection, Task<T>> read, CancellationToken cancellationToken)
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
        catch (Exception ex) when (ex is not (StoreUnavailableException or OperationCanceledException))
        {
            throw new StoreUnavailableException($"SQLite read failed ({ex.GetType().Name}).", ex);
        }
    }

    /// <summary>
    /// The custom metric backfill (<see cref="SqliteMetricBackfill"/>): batches through the writer until none is left,
    /// progress logged at most every 10 s; a failed batch (a full disk, a busy file) is retried after a second.
    /// </summary>
    private async Task BackfillMetricsAsync(int keys, long total)
    {
        SqliteMetricBackfill.LogStarted(_logger, keys, total);
        var started = System.Diagnostics.Stopwatch.StartNew();
        var logged = TimeSpan.Zero;
        var (afterStart, afterId, done) = (long.MinValue, "", 0L);
        while (!_stopping.IsCancellationRequested)
        {
            var batch = new WriteRequest.MetricBackfill(afterStart, afterId);
            try
            {
                await EnqueueAsync(batch, _stopping.Token);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            catch (Exception ex)
            {
                SqliteMetricBackfill.LogBatchFailed(_logger, ex);
                await Task.Delay(TimeSpan.FromSeconds(1), TimeProvider.System, CancellationToken.None);
                continue;
            }

            if (batch.Seen == 0)
            {
                SqliteMetricBackfill.LogFinished(_logger, done, started.Elapsed.TotalSeconds);
                return;
            }

            (afterStart, afterId, done) = (batch.NextStartMs, batch.NextSessionId, done + batch.Seen);
            if (started.Elapsed - logged >= TimeSpan.FromSeconds(10))
            {
                logged = started.Elapsed;
                SqliteMetricBackfill.LogProgress(_logger, done, total, logged.TotalSeconds);
            }
        }
    }

    /// <summary>For tests: completes when the custom metric backfill started at initialization has finished (at once without one).</summary>
    internal Task MetricBackfillCompletion => _metricBackfill ?? Task.CompletedTask;

    private async Task<SqliteConnection> OpenAsync(CancellationToken cancellationToken)
    {
        var connection = new SqliteConnection(_connectionString);
        await connection.OpenAsync(cancellationToken);
        return connection;
    }

    private void WriterLoop()
    {
        var batch = new List<WriteRequest>(MaxRequestsPerTransaction);
        SqliteWriter? writer = null;
        try
        {
            while (WaitForWrites())
            {
                Hooks.BeforeBatch();
                while (batch.Count < MaxRequestsPerTransaction && _writes.Reader.TryRead(out var request))
                {
                    batch.Add(request);
                }

                try
                {
                    writer ??= SqliteWriter.Open(_connectionString, _options.Synchronous, autoCheckpoint: _options.CheckpointInterval == TimeSpan.Zero, Metrics);
                    var isolated = writer.Commit(batch);
                    Hooks.Committed(batch.Count, isolated);
                    _checkpointer?.FinishCompletedPass(writer.FinishCheckpoint);
                }
                catch (Exception ex)
                {
                    // Any exception, not only SQLite's: one that escaped would end this thread, and every write after
                    // it would wait forever. The batch's flushes fail as unavailable (nothing committed); their
                    // grains restore what they took, and the writer goes on with the next batch.
                    LogWriteFailed(_logger, ex, batch.Count);
                    var failure = new StoreUnavailableException($"The session store refused the write ({ex.GetType().Name}).", ex);
                    WriteRequest.CompleteAll(batch, _ => failure);

                    // A failed connection may be in a bad state (read-only file, disk full): reopen next time.
                    writer?.Dispose();
                    writer = null;
                }

                batch.Clear();
            }
        }
        finally
        {
            writer?.Dispose();
        }
    }

    /// <summary>Blocks the writer thread until requests wait or the queue is completed (false).</summary>
    private bool WaitForWrites()
    {
        var wait = _writes.Reader.WaitToReadAsync();
        return wait.IsCompletedSuccessfully ? wait.Result : wait.AsTask().GetAwaiter().GetResult();
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Added column {Column} to the SQLite database at {Path} (written by an earlier version)")]
    private static partial void LogColumnAdded(ILogger logger, string column, string path);

    [LoggerMessage(Level = LogLevel.Information, Message = "SQLite session store ready at {Path}")]
    private static partial void LogInitialized(ILogger logger, string path);

    [LoggerMessage(Level = LogLevel.Error, Message = "SQLite write of {Count} requests failed")]
    private static partial void LogWriteFailed(ILogger logger, Exception exception, int count);
}
