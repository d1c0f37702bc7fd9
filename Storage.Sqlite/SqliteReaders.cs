using System.Threading.Channels;
using Microsoft.Data.Sqlite;

namespace SessionTracking.Storage.Sqlite;

/// <summary>
/// The session store's reads (a grain's activation, a page of events, a dedup check) run on a few dedicated threads,
/// each with an open connection whose statements stay prepared: Microsoft.Data.Sqlite's async methods run
/// synchronously, so a read awaited on a grain's turn would block the thread that runs it, and opening a pooled
/// connection and preparing the query per call cost more than the query itself. WAL lets these readers run beside the
/// writer.
/// </summary>
internal sealed class SqliteReaders : IAsyncDisposable
{
    private readonly Channel<Func<LazyConnection, bool>> _reads = Channel.CreateUnbounded<Func<LazyConnection, bool>>();
    private readonly Task[] _threads;

    public SqliteReaders(string connectionString, int count)
    {
        _threads = new Task[count];
        for (var i = 0; i < count; i++)
        {
            _threads[i] = Task.Factory.StartNew(() => Loop(connectionString), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        }
    }

    /// <summary>Runs <paramref name="read"/> on a reader thread; every failure becomes <see cref="StoreUnavailableException"/>.</summary>
    public Task<T> RunAsync<T>(Func<Connection, T> read, CancellationToken cancellationToken)
    {
        var completion = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        bool Run(LazyConnection connection)
        {
            try
            {
                completion.TrySetResult(read(connection.Get()));
                return true;
            }
            catch (SqliteException ex)
            {
                completion.TrySetException(new StoreUnavailableException($"SQLite read failed: {ex.SqliteErrorCode}", ex));
                return false;
            }
            catch (Exception ex)
            {
                // Not the connection's fault (a row the read cannot decode, say): the connection is kept, and the
                // caller sees the port's type like any other failed read.
                completion.TrySetException(new StoreUnavailableException($"SQLite read failed ({ex.GetType().Name}).", ex));
                return true;
            }
        }

        if (!_reads.Writer.TryWrite(Run))
        {
            throw new StoreUnavailableException("The SQLite store is shutting down.");
        }

        return completion.Task.WaitAsync(cancellationToken);
    }

    public async ValueTask DisposeAsync()
    {
        _reads.Writer.TryComplete();
        await Task.WhenAll(_threads);
    }

    private void Loop(string connectionString)
    {
        var connection = new LazyConnection(connectionString);
        try
        {
            while (WaitForReads())
            {
                while (_reads.Reader.TryRead(out var read))
                {
                    if (!read(connection))
                    {
                        // A connection that failed may be broken (file replaced, disk error): the next read reopens.
                        connection.Reset();
                    }
                }
            }
        }
        finally
        {
            connection.Reset();
        }
    }

    private bool WaitForReads()
    {
        var wait = _reads.Reader.WaitToReadAsync();
        return wait.IsCompletedSuccessfully ? wait.Result : wait.AsTask().GetAwaiter().GetResult();
    }

    /// <summary>A reader thread's connection, opened by the first read that needs it (so an open failure is that read's).</summary>
    private sealed class LazyConnection(string connectionString)
    {
        private Connection? _connection;

        public Connection Get() => _connection ??= new Connection(connectionString);

        public void Reset()
        {
            _connection?.Dispose();
            _connection = null;
        }
    }

    /// <summary>A reader thread's connection and its prepared statements, by SQL text.</summary>
    internal sealed class Connection : IDisposable
    {
        private readonly Dictionary<string, SqliteCommand> _commands = new(StringComparer.Ordinal);

        public Connection(string connectionString)
        {
            Sqlite = new SqliteConnection(connectionString);
            Sqlite.Open();
        }

        public SqliteConnection Sqlite { get; }

        /// <summary>The statement for <paramref name="sql"/>, prepared once, with its parameters cleared of values.</summary>
        public SqliteCommand Command(string sql)
        {
            if (!_commands.TryGetValue(sql, out var command))
            {
                command = Sqlite.CreateCommand();
                command.CommandText = sql;
                _commands.Add(sql, command);
            }

            command.Parameters.Clear();
            return command;
        }

        public void Dispose()
        {
            foreach (var command in _commands.Values)
            {
                command.Dispose();
            }

            Sqlite.Dispose();
        }
    }
}
