using SessionTracking.Storage;

namespace SessionTracking;

/// <summary>What <see cref="SessionDedup.LookupAsync"/> found for a batch: null arrays when no event carries an id.</summary>
internal readonly record struct DedupLookup(ulong[]? Keys, bool[]? InWindow, IReadOnlyCollection<string> StoredIds);

/// <summary>
/// A session's exactly-once check of client event ids (docs/architecture.md, "Dedup: a key set and a window"): a set of
/// the 64-bit keys of every id the session has (<see cref="ClientIdHashSet"/>, built at the first append with ids), the
/// newest ids themselves (<see cref="RecentIds"/>), and the store's exact check for older ones. A new id costs one probe
/// of the set; only a resend (or a 64-bit collision) is looked for in the window, and beyond it in the store.
/// </summary>
internal sealed class SessionDedup(int window)
{
    // A batch's own keys go into a set reused by every session on this thread (FindDuplicates does not await).
    [ThreadStatic]
    private static HashSet<ulong>? t_batchKeys;

    private readonly RecentIds _recent = new(window);
    private ClientIdHashSet? _keys; // the key of every id stored or accepted; built at the first append with ids
    private bool _idsBeyondWindow;  // the store holds ids the window has not seen (older, or another activation's)

    /// <summary>Takes the store's view of the session: at activation, and again after a reload.</summary>
    public void Load(SessionSnapshot snapshot)
    {
        _recent.AddRange(snapshot.RecentClientIds);
        _idsBeyondWindow |= snapshot.LastSeq > window;
        _keys = null; // another activation may have stored ids this one never saw: rebuilt from the store when needed
    }

    /// <summary>The ids of a new session's first events.</summary>
    public void AddInitial(IEnumerable<string> ids) => _recent.AddRange(ids);

    public void Accept(string id, ulong key)
    {
        _recent.Add(id, key);
        _keys?.Add(key);
    }

    /// <summary>True when the window of recent ids holds <paramref name="id"/>.</summary>
    public bool Holds(string id) => _recent.Contains(id);

    /// <summary>An accepted id whose event was not stored after all: its resend must be accepted again.</summary>
    public void Forget(string id) => _recent.Remove(id);

    /// <summary>
    /// The key of every event's client id, which of them the window holds, and those that only the store still remembers:
    /// ids whose key the set holds but the window does not. The set is built at the first append with ids: from the window
    /// alone while it holds every id the session has, else from the store's id hashes, once per activation. The caller
    /// may be reentrant: while the store answers, other appends may push more of this batch's ids out of the window, and
    /// those are asked about in another round. The round that asks nothing is the answer: with no await left before the
    /// caller numbers the batch, every id the set holds is in the window or was asked.
    /// </summary>
    public async ValueTask<DedupLookup> LookupAsync(IncomingEvent[] events, ISessionStore store, string sessionId)
    {
        ulong[]? keys = null;
        for (var i = 0; i < events.Length; i++)
        {
            if (events[i].ClientId is { } id)
            {
                (keys ??= new ulong[events.Length])[i] = ClientIdHashSet.KeyOf(id);
            }
        }

        if (keys is null)
        {
            return new DedupLookup(null, null, []);
        }

        if (_keys is null)
        {
            var storedKeys = _idsBeyondWindow || _recent.HasEvicted ? await store.ReadClientIdHashesAsync(sessionId, CancellationToken.None) : [];
            if (_keys is null)
            {
                var set = new ClientIdHashSet(storedKeys);
                _recent.CopyTo(set); // accepted meanwhile, perhaps not durable yet
                _keys = set;
            }
        }

        HashSet<string>? asked = null;
        HashSet<string>? stored = null;
        while (true)
        {
            List<string>? olderThanWindow = null;
            bool[]? inWindow = null;
            for (var i = 0; i < events.Length; i++)
            {
                if (events[i].ClientId is not { } id || _keys?.Contains(keys[i]) == false)
                {
                    continue; // no id, or a new one
                }

                if (_recent.Contains(id, keys[i]))
                {
                    (inWindow ??= new bool[events.Length])[i] = true;
                }
                else if (asked?.Contains(id) != true)
                {
                    (olderThanWindow ??= []).Add(id);
                }
            }

            if (olderThanWindow is null)
            {
                return new DedupLookup(keys, inWindow, stored ?? (IReadOnlyCollection<string>)[]);
            }

            (asked ??= new HashSet<string>(StringComparer.Ordinal)).UnionWith(olderThanWindow);
            var found = await store.FindStoredClientIdsAsync(sessionId, olderThanWindow, CancellationToken.None);
            (stored ??= new HashSet<string>(StringComparer.Ordinal)).UnionWith(found);
        }
    }

    /// <summary>
    /// Marks the events whose client id the session already has (in the window or the store, as
    /// <see cref="LookupAsync"/> found, or earlier in the batch); null when there are none, the common case, which then
    /// allocates nothing.
    /// </summary>
    public static bool[]? FindDuplicates(IncomingEvent[] events, in DedupLookup lookup, out int duplicates)
    {
        bool[]? duplicate = null;
        duplicates = 0;
        if (lookup.Keys is not { } keys)
        {
            return null; // no event carries an id
        }

        var batchKeys = events.Length > 1 ? t_batchKeys ??= [] : null;
        try
        {
            for (var i = 0; i < events.Length; i++)
            {
                if (events[i].ClientId is not { } id)
                {
                    continue;
                }

                if (lookup.InWindow?[i] == true || lookup.StoredIds.Contains(id) || (batchKeys?.Add(keys[i]) == false && EarlierInBatch(events, i)))
                {
                    (duplicate ??= new bool[events.Length])[i] = true;
                    duplicates++;
                }
            }
        }
        finally
        {
            batchKeys?.Clear(); // shared by the thread's next batch, whatever happened here
        }

        return duplicate;
    }

    private static bool EarlierInBatch(IncomingEvent[] events, int index)
    {
        for (var i = 0; i < index; i++)
        {
            if (events[i].ClientId == events[index].ClientId)
            {
                return true;
            }
        }

        return false;
    }
}
