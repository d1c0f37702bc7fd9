namespace SessionTracking;

/// <summary>
/// The newest client event ids of a session, at most <c>capacity</c>, with their <see cref="ClientIdHashSet.KeyOf"/>:
/// the exact answer for a resend of a recent id without a store round trip. The grain asks it only about ids whose hash
/// the session's <see cref="ClientIdHashSet"/> holds (resends), so it keeps no index of its own: adding an id writes one
/// slot of a ring (the oldest is overwritten), and a lookup scans the hashes (vectorised) and compares the id where one
/// matches. Allocates nothing until the first id arrives and grows with the session up to its capacity.
/// </summary>
internal sealed class RecentIds(int capacity)
{
    private string?[] _ids = [];
    private ulong[] _keys = [];
    private int _oldest; // once full: the slot the next id overwrites

    public int Count { get; private set; }

    /// <summary>True once an id has left the window: from then on, ids not found here must be checked in the store.</summary>
    public bool HasEvicted { get; private set; }

    public bool Contains(string id) => Contains(id, ClientIdHashSet.KeyOf(id));

    public bool Contains(string id, ulong key)
    {
        var keys = _keys.AsSpan(0, Count);
        for (var from = 0; from < keys.Length;)
        {
            var at = keys[from..].IndexOf(key);
            if (at < 0)
            {
                return false;
            }

            if (_ids[from + at] == id)
            {
                return true;
            }

            from += at + 1;
        }

        return false;
    }

    public void Add(string id) => Add(id, ClientIdHashSet.KeyOf(id));

    public void Add(string id, ulong key)
    {
        if (capacity == 0)
        {
            return;
        }

        if (Count < capacity)
        {
            if (Count == _ids.Length)
            {
                var size = Math.Min(capacity, Math.Max(16, _ids.Length * 2));
                Array.Resize(ref _ids, size);
                Array.Resize(ref _keys, size);
            }

            _ids[Count] = id;
            _keys[Count] = key;
            Count++;
            return;
        }

        _ids[_oldest] = id;
        _keys[_oldest] = key;
        _oldest = (_oldest + 1) % capacity;
        HasEvicted = true;
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
        for (var i = 0; i < Count; i++)
        {
            if (_ids[i] is not null)
            {
                set.Add(_keys[i]);
            }
        }
    }

    /// <summary>Forgets an id whose event was never stored (its write failed), so a retry is accepted.</summary>
    public void Remove(string id)
    {
        for (var i = 0; i < Count; i++)
        {
            if (_ids[i] == id)
            {
                _ids[i] = null;
            }
        }
    }
}
