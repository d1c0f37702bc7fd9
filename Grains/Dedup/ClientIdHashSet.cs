using SessionTracking.Storage;

namespace SessionTracking;

/// <summary>
/// The <see cref="ClientIdHash"/> of every client id a long session has stored or accepted, so that dedup beyond the
/// in-memory window asks the store only about an id whose 64-bit hash it already holds (a resend, or a hash collision:
/// about n²/2⁶⁵, 3e-8 for a million ids), never about a new one. An open-addressing table with linear probing: one
/// cache line read per id. 8 bytes per slot at 3/8 to 3/4 load, 11–21 bytes per id; a Bloom filter would be a third of
/// that but cost a cache miss per link of its chain and send a share of new ids to the store.
/// </summary>
internal sealed class ClientIdHashSet
{
    private const ulong Empty = 0;
    private const int PooledFrom = 16 * 1024;

    private ulong[] _slots;
    private int _shift;

    public ClientIdHashSet(IReadOnlyCollection<ulong> hashes)
    {
        var bits = 4;
        while ((1L << bits) * 3 / 4 <= hashes.Count * 2L)
        {
            bits++;
        }

        _slots = new ulong[1 << bits];
        _shift = 64 - bits;
        foreach (var hash in hashes)
        {
            Add(hash);
        }
    }

    public int Count { get; private set; }

    public long SizeInBytes => (long)_slots.Length * sizeof(ulong);

    /// <summary>The key the set (and <see cref="RecentIds"/>) hold for an id: its hash, with 0 (an empty slot) read as 1.</summary>
    public static ulong KeyOf(string clientId) => Key(ClientIdHash.Of(clientId));

    public bool Contains(ulong hash)
    {
        var key = Key(hash);
        var mask = _slots.Length - 1;
        for (var slot = Home(key); ; slot = (slot + 1) & mask)
        {
            var stored = _slots[slot];
            if (stored == key)
            {
                return true;
            }

            if (stored == Empty)
            {
                return false;
            }
        }
    }

    public void Add(ulong hash)
    {
        if (Count + 1 > _slots.Length * 3 / 4)
        {
            Grow();
        }

        if (Insert(_slots, Key(hash)))
        {
            Count++;
        }
    }

    /// <summary>0 marks an empty slot, so the one id hashing to 0 is held as 1 (a collision the store check resolves).</summary>
    private static ulong Key(ulong hash) => hash == Empty ? 1 : hash;

    /// <summary>Fibonacci hashing: the top bits of hash × 2⁶⁴/φ, spread even when the low bits of the hashes are alike.</summary>
    private int Home(ulong key) => (int)((key * 0x9E3779B97F4A7C15) >> _shift);

    private bool Insert(ulong[] slots, ulong key)
    {
        var mask = slots.Length - 1;
        for (var slot = Home(key); ; slot = (slot + 1) & mask)
        {
            if (slots[slot] == key)
            {
                return false;
            }

            if (slots[slot] == Empty)
            {
                slots[slot] = key;
                return true;
            }
        }
    }

    /// <summary>
    /// Doubles the table. Tables from 16K slots (128 KB) come from the shared array pool and the old one goes back to it:
    /// a growing session's tables would otherwise be fresh large-object-heap arrays, zeroed page by page, each growth a
    /// step towards a gen2 collection.
    /// </summary>
    private void Grow()
    {
        var old = _slots;
        var size = old.Length * 2;
        _slots = size >= PooledFrom ? System.Buffers.ArrayPool<ulong>.Shared.Rent(size) : new ulong[size];
        Array.Clear(_slots); // a rented array holds what its last user left, and may be longer than asked for
        _slots = _slots.Length == size ? _slots : _slots[..size];
        _shift--;
        foreach (var key in old)
        {
            if (key != Empty)
            {
                Insert(_slots, key);
            }
        }

        if (old.Length >= PooledFrom)
        {
            System.Buffers.ArrayPool<ulong>.Shared.Return(old);
        }
    }
}
