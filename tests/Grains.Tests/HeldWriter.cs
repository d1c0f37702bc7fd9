using SessionTracking.Storage.Sqlite;

namespace SessionTracking.Grains.Tests;

/// <summary>
/// Writer hooks for tests: the SQLite writer waits before it takes the waiting requests until <see cref="Release"/>, so
/// that every request queued meanwhile lands in one transaction; counts the transactions rerun with a savepoint per
/// request.
/// </summary>
internal sealed class HeldWriter : IWriterHooks, IDisposable
{
    private readonly ManualResetEventSlim _hold = new();
    private int _isolatedCommits;
    private int _lastIsolatedBatchSize;

    public int IsolatedCommits => Volatile.Read(ref _isolatedCommits);

    public int LastIsolatedBatchSize => Volatile.Read(ref _lastIsolatedBatchSize);

    public void Release() => _hold.Set();

    public void BeforeBatch() => _hold.Wait();

    public void Committed(int requests, bool isolated)
    {
        if (isolated)
        {
            Volatile.Write(ref _lastIsolatedBatchSize, requests);
            Interlocked.Increment(ref _isolatedCommits);
        }
    }

    // Released, not disposed: the store may take more requests after the test let go of its hold.
    public void Dispose() => Release();
}
