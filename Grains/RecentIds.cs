namespace SessionTracking;

/// <summary>
/// The newest client event ids of a session, at most <c>capacity</c>, for dedup without a store round trip.
/// Allocates nothing until the first id arrives, so idle sessions without ids stay small.
/// </summary>
internal sealed class RecentIds(int capacity)
{
    private HashSet<string>? _set;
    private Queue<string>? _order;

    public int Count => _set?.Count ?? 0;

    /// <summary>True once an id has left the window: from then on, ids not found here must be checked in the store.</summary>
    public bool HasEvicted { get; private set; }

    public bool Contains(string id) => _set?.Contains(id) == true;

    public void Add(string id)
    {
        if (capacity == 0)
        {
            return;
        }

        _set ??= new HashSet<string>(StringComparer.Ordinal);
        _order ??= new Queue<string>();
        if (!_set.Add(id))
        {
            return;
        }

        _order.Enqueue(id);
        while (_order.Count > capacity)
        {
            _set.Remove(_order.Dequeue());
            HasEvicted = true;
        }
    }

    public void AddRange(IEnumerable<string> ids)
    {
        foreach (var id in ids)
        {
            Add(id);
        }
    }

    public void CopyTo(ClientIdHashSet set)
    {
        foreach (var id in _set ?? [])
        {
            set.Add(id);
        }
    }

    /// <summary>Forgets an id whose event was never stored (its write failed), so a retry is accepted.</summary>
    public void Remove(string id) => _set?.Remove(id);
}
