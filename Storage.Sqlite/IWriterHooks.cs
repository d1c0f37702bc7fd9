namespace SessionTracking.Storage.Sqlite;

/// <summary>
/// The points of the writer loop a test can watch or hold: before the writer takes the waiting requests (a test holds
/// it there so that requests queued meanwhile share one transaction) and after each transaction (whether it was rerun
/// with a savepoint per request because one conflicted). The product's loop calls <see cref="None"/>.
/// </summary>
internal interface IWriterHooks
{
    static readonly IWriterHooks None = new NoHooks();

    void BeforeBatch();

    void Committed(int requests, bool isolated);

    private sealed class NoHooks : IWriterHooks
    {
        public void BeforeBatch()
        {
        }

        public void Committed(int requests, bool isolated)
        {
        }
    }
}
