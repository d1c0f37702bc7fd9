using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;

namespace SessionTracking.Storage.Sqlite;

/// <summary>
/// Copies the WAL into the database file on its own thread, every <c>interval</c>. SQLite's default auto-checkpoint
/// runs inside the commit that crosses 1000 WAL pages, so one acknowledged flush in every few thousand waited for the
/// checkpoint's writes and its fsync of the database file (the p99 of the benchmark). The writer turns auto-checkpoint
/// off; PASSIVE checkpoints here never block it.
/// A PASSIVE checkpoint never catches a writer that keeps appending: SQLite restarts the WAL from its beginning only
/// when a write transaction starts after every frame was copied, so under sustained load the WAL grew without end
/// (1.4 GB after a minute of the benchmark, every frame a fresh page of a growing file). After each pass here,
/// the writer copies the few frames appended meanwhile itself (<see cref="FinishCompletedPass"/>), between two of its
/// transactions; its next transaction then rewrites the WAL from the start. A gate keeps the two from
/// checkpointing at once (the second would meet SQLITE_BUSY and retry for seconds).
/// </summary>
internal sealed partial class SqliteCheckpointer(string connectionString, TimeSpan interval, ILogger logger) : IAsyncDisposable
{
    /// <summary>A pass that copied at most this many pages (1 MB) leaves the writer little to copy.</summary>
    private const long SmallPassPages = 256;

    private const int MaxPassesPerTick = 4;

    private readonly CancellationTokenSource _stop = new();
    private readonly Lock _gate = new();
    private Task? _loop;
    private int _passCompleted;

    /// <summary>How many passes the last <see cref="RunPasses"/> made (tests).</summary>
    internal int PassesInLastTick { get; private set; }

    public void Start() => _loop = Task.Run(LoopAsync);

    /// <summary>
    /// Runs <paramref name="finish"/> (the writer's own PASSIVE checkpoint) once after each completed background pass,
    /// unless a pass is running now. Called by the writer between transactions.
    /// </summary>
    public void FinishCompletedPass(Action finish)
    {
        if (Volatile.Read(ref _passCompleted) == 0 || !_gate.TryEnter())
        {
            return;
        }

        try
        {
            _passCompleted = 0;
            finish();
        }
        catch (SqliteException ex)
        {
            LogCheckpointFailed(logger, ex, "writer's PASSIVE");
        }
        finally
        {
            _gate.Exit();
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_stop.IsCancellationRequested)
        {
            return;
        }

        await _stop.CancelAsync();
        if (_loop is not null)
        {
            await _loop;
        }

        // Fold the whole WAL in on shutdown, so that the database file alone is the data.
        lock (_gate)
        {
            _ = TryCheckpoint("TRUNCATE");
        }

        _stop.Dispose();
    }

    private async Task LoopAsync()
    {
        using var timer = new PeriodicTimer(interval);
        try
        {
            while (await timer.WaitForNextTickAsync(_stop.Token))
            {
                RunPasses();
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>
    /// What each tick runs: passes until one copies at most <see cref="SmallPassPages"/> pages (the frames appended while
    /// the pass before it ran), at most <paramref name="maxPasses"/>, before the writer is let copy the rest. The
    /// writer's copy holds every acknowledgement back while it runs (tens of ms after a long pass under load: see
    /// docs/architecture.md, "Storage port and the SQLite adapter"); after a small pass it copies only what was appended
    /// while that pass ran. Tests
    /// call it (with 1: one pass) to make passes happen at a known moment.
    /// </summary>
    internal void RunPasses(int maxPasses = MaxPassesPerTick)
    {
        lock (_gate)
        {
            // Synchronous on purpose: Microsoft.Data.Sqlite runs its async methods synchronously anyway.
            long? checkpointedBefore = null;
            PassesInLastTick = 0;
            for (var pass = 1; pass <= maxPasses; pass++)
            {
                if (TryCheckpoint("PASSIVE") is not { } checkpointed)
                {
                    return; // the next tick tries again
                }

                PassesInLastTick = pass;
                // A WAL restarted since the pass before counts from its beginning.
                var copied = checkpointedBefore is { } before && checkpointed >= before ? checkpointed - before : checkpointed;
                checkpointedBefore = checkpointed;
                if (copied <= SmallPassPages)
                {
                    break;
                }
            }

            _passCompleted = 1;
        }
    }

    /// <summary>How many of the WAL's frames are in the database file after the checkpoint; null if it failed.</summary>
    private long? TryCheckpoint(string mode)
    {
        try
        {
            using var connection = new SqliteConnection(connectionString);
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = $"PRAGMA wal_checkpoint({mode});";
            using var reader = command.ExecuteReader();
            return reader.Read() ? reader.GetInt64(2) : 0; // (busy, frames in the WAL, frames checkpointed)
        }
        catch (SqliteException ex)
        {
            // A failed checkpoint loses nothing (the WAL keeps every commit); the next tick tries again.
            LogCheckpointFailed(logger, ex, mode);
            return null;
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "SQLite {Mode} checkpoint failed")]
    private static partial void LogCheckpointFailed(ILogger logger, Exception exception, string mode);
}
