namespace SessionTracking.Storage.Sqlite;

/// <summary>
/// Rows the writer connection wrote, kept so that the next flush touching the same row needs no read: a user's custom
/// row, an aggregate's scalar blob. Every value put here is also written in the same transaction, so dropping an entry
/// is always safe; what must never happen is serving one the database does not hold. Hence: entries put by a transaction
/// that did not commit are dropped when the next one begins (<see cref="Begin"/>), and everything is dropped when
/// another connection committed meanwhile (another process sharing the file: <c>PRAGMA data_version</c>).
/// </summary>
internal sealed class WriterCache<TKey, TValue>(int capacity)
    where TKey : notnull
{
    private readonly Dictionary<TKey, TValue> _entries = [];
    private readonly HashSet<TKey> _uncommitted = [];

    public bool TryGet(TKey key, out TValue value) => _entries.TryGetValue(key, out value!);

    public void Put(TKey key, TValue value)
    {
        if (_entries.Count >= capacity && !_entries.ContainsKey(key))
        {
            // Bounded memory, no bookkeeping per hit: start over (the rows are read again on their next flush).
            _entries.Clear();
        }

        _entries[key] = value;
        _uncommitted.Add(key);
    }

    /// <summary>Starts a transaction: forgets what a transaction that did not commit put, or everything when <paramref name="stale"/>.</summary>
    public void Begin(bool stale)
    {
        if (stale)
        {
            Clear();
            return;
        }

        foreach (var key in _uncommitted)
        {
            _entries.Remove(key);
        }

        _uncommitted.Clear();
    }

    public void Committed() => _uncommitted.Clear();

    public void Clear()
    {
        _entries.Clear();
        _uncommitted.Clear();
    }
}
