using System.Text.Unicode;

namespace SessionTracking;

/// <summary>
/// The newest client event ids of a session, at most <c>capacity</c>, with their <see cref="ClientIdHashSet.KeyOf"/>:
/// the exact answer for a resend of a recent id without a store round trip. The grain asks it only about ids whose key
/// the session's <see cref="ClientIdHashSet"/> holds (resends), so it keeps no index of its own: adding an id writes one
/// slot of a ring (the oldest is overwritten), and a lookup scans the keys (vectorised) and compares the id where one
/// matches. Ids are kept as UTF-8 bytes in fixed slots, not as strings: a ring of strings kept every id alive past a
/// few collections and made each gen0 collection scan the ring's cards (docs/benchmark.md). Allocates nothing until the
/// first id arrives and grows with the session up to its capacity.
/// </summary>
internal sealed class RecentIds(int capacity)
{
    /// <summary>Room for the tracker's ids (12 hex digits, a dash, a sequence number) and most others, UTF-8 encoded.</summary>
    private const int SlotBytes = 32;

    /// <summary>In <see cref="_lengths"/>: the id did not fit a slot (or is not valid UTF-16) and is held in <see cref="_longIds"/>.</summary>
    private const byte Long = byte.MaxValue;

    private ulong[] _keys = []; // 0: a removed id (no key is 0)
    private byte[] _lengths = [];
    private byte[] _bytes = [];
    private string?[]? _longIds;
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

            if (Holds(from + at, id))
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

        int slot;
        if (Count < capacity)
        {
            if (Count == _keys.Length)
            {
                Grow();
            }

            slot = Count++;
        }
        else
        {
            slot = _oldest;
            _oldest = (_oldest + 1) % capacity;
            HasEvicted = true;
        }

        _keys[slot] = key;
        if (Utf8.FromUtf16(id, _bytes.AsSpan(slot * SlotBytes, SlotBytes), out _, out var written, replaceInvalidSequences: false) == System.Buffers.OperationStatus.Done)
        {
            _lengths[slot] = (byte)written;
            if (_longIds is not null)
            {
                _longIds[slot] = null;
            }
        }
        else
        {
            _lengths[slot] = Long;
            (_longIds ??= new string?[_keys.Length])[slot] = id;
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
        foreach (var key in _keys.AsSpan(0, Count))
        {
            if (key != 0)
            {
                set.Add(key);
            }
        }
    }

    /// <summary>Forgets an id whose event was never stored (its write failed), so a retry is accepted.</summary>
    public void Remove(string id)
    {
        var key = ClientIdHashSet.KeyOf(id);
        for (var i = 0; i < Count; i++)
        {
            if (_keys[i] == key && Holds(i, id))
            {
                _keys[i] = 0;
            }
        }
    }

    private bool Holds(int slot, string id)
    {
        if (_lengths[slot] == Long)
        {
            return _longIds![slot] == id;
        }

        Span<byte> encoded = stackalloc byte[SlotBytes];
        return Utf8.FromUtf16(id, encoded, out _, out var written, replaceInvalidSequences: false) == System.Buffers.OperationStatus.Done
            && encoded[..written].SequenceEqual(_bytes.AsSpan(slot * SlotBytes, _lengths[slot]));
    }

    private void Grow()
    {
        var size = Math.Min(capacity, Math.Max(16, _keys.Length * 2));
        Array.Resize(ref _keys, size);
        Array.Resize(ref _lengths, size);
        Array.Resize(ref _bytes, size * SlotBytes);
        if (_longIds is not null)
        {
            Array.Resize(ref _longIds, size);
        }
    }
}
