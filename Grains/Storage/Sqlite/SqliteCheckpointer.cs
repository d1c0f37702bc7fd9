using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;

namespace SessionTracking.Storage.Sqlite;

/// <summary>
/// Copies the WAL into the database file on its own thread, every <c>interval</c>. SQLite's default auto-checkpoint
/// runs inside the commit that crosses 1000 WAL pages, so one acknowledged flush in every few thousand waited for the
/// checkpoint's writes and its fsync of the database file (the p99 of the benchmark). The writer turns auto-checkpoint
/// off; PASSIVE checkpoints here never block it.
/// </summary>
internal sealed partial class SqliteCheckpointer(string connectionString, TimeSpan interval, ILogger logger) : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private Task? _loop;

    public void Start() => _loop = Task.Run(LoopAsync);

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
        await TryCheckpointAsync("TRUNCATE", CancellationToken.None);
        _stop.Dispose();
    }

    private async Task LoopAsync()
    {
        using var timer = new PeriodicTimer(interval);
        try
        {
            while (await timer.WaitForNextTickAsync(_stop.Token))
            {
                await TryCheckpointAsync("PASSIVE", _stop.Token);
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private async Task TryCheckpointAsync(string mode, CancellationToken cancellationToken)
    {
        try
        {
            await using var connection = new SqliteConnection(connectionString);
            await connection.OpenAsync(cancellationToken);
            await using var command = connection.CreateCommand();
            command.CommandText = $"PRAGMA wal_checkpoint({mode});";
            await command.ExecuteNonQueryAsync(cancellationToken);
        }
        catch (SqliteException ex)
        {
            // A failed checkpoint loses nothing (the WAL keeps every commit); the next tick tries again.
            LogCheckpointFailed(logger, ex, mode);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "SQLite {Mode} checkpoint failed")]
    private static partial void LogCheckpointFailed(ILogger logger, Exception exception, string mode);
}
