using SessionTracking.Storage;

namespace SessionTracking;

/// <summary>
/// A Bloom filter of every client id a long session has stored, so that dedup beyond the in-memory window asks the
/// store only when an id may have been seen (a resend, or a false positive at most <see cref="FalsePositiveRate"/>),
/// not for every new id. It grows as a chain of filters each twice the capacity of the last (a scalable Bloom filter),
/// so it is sized by what the session holds: ~2.4 bytes per id.
/// </summary>
internal sealed class ClientIdFilter
{
    /// <summary>The chain's bound; each link is built at a tenth of it, so the sum over links stays under it.</summary>
    public const double FalsePositiveRate = 0.001;

    private const int HashCount = 14; // k = -log2(p) for p = 0.0001 per link
    private const double BitsPerId = 19.2; // m/n = -ln(p) / ln(2)^2 for p = 0.0001 per link

    private readonly List<Link> _links = [];

    public ClientIdFilter(IReadOnlyCollection<ulong> hashes)
    {
        _links.Add(new Link(Math.Max(256, hashes.Count * 2)));
        foreach (var hash in hashes)
        {
            Add(hash);
        }
    }

    public long SizeInBytes => _links.Sum(l => (long)l.Bits.Length * sizeof(ulong));

    public void Add(string clientId) => Add(ClientIdHash.Of(clientId));

    public bool MayContain(string clientId)
    {
        var hash = ClientIdHash.Of(clientId);
        foreach (var link in _links)
        {
            if (link.MayContain(hash))
            {
                return true;
            }
        }

        return false;
    }

    private void Add(ulong hash)
    {
        var last = _links[^1];
        if (last.Count >= last.Capacity)
        {
            last = new Link(last.Capacity * 2);
            _links.Add(last);
        }

        last.Add(hash);
    }

    private sealed class Link(int capacity)
    {
        public int Capacity { get; } = capacity;

        public int Count { get; private set; }

        public ulong[] Bits { get; } = new ulong[Math.Max(1, (int)Math.Ceiling(capacity * BitsPerId / 64))];

        public void Add(ulong hash)
        {
            Count++;
            ForEachBit(hash, this, static (link, bit) =>
            {
                link.Bits[bit >> 6] |= 1UL << (int)(bit & 63);
                return true;
            });
        }

        public bool MayContain(ulong hash) =>
            ForEachBit(hash, this, static (link, bit) => (link.Bits[bit >> 6] & (1UL << (int)(bit & 63))) != 0);

        /// <summary>Double hashing (Kirsch–Mitzenmacher): bit i = h1 + i·h2 mod m; stops at the first false.</summary>
        private static bool ForEachBit(ulong hash, Link link, Func<Link, ulong, bool> visit)
        {
            var size = (ulong)link.Bits.Length * 64;
            var h1 = hash;
            var h2 = (hash >> 32) | (hash << 32) | 1;
            for (var i = 0; i < HashCount; i++)
            {
                if (!visit(link, (h1 + ((ulong)i * h2)) % size))
                {
                    return false;
                }
            }

            return true;
        }
    }
}
