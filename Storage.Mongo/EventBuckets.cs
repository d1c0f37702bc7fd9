namespace SessionTracking.Storage.Mongo;

/// <summary>
/// Events live in bucket documents of at most <c>size</c> events. The grain numbers events 1, 2, 3… so an event's
/// bucket is pure arithmetic, and a flush touches only the one or two buckets at the session's tail: the millionth
/// event costs what the first did.
/// </summary>
public readonly record struct EventBuckets(int Size)
{
    public long BucketOf(long seq) => (seq - 1) / Size;

    public static string BucketId(string sessionId, long bucket) => $"{sessionId}:{bucket}";

    /// <summary>Splits a flush's events (consecutive sequence numbers) into per-bucket runs, in order.</summary>
    public IEnumerable<(long Bucket, IReadOnlyList<StoredEvent> Events)> Split(IReadOnlyList<StoredEvent> events)
    {
        var start = 0;
        while (start < events.Count)
        {
            var bucket = BucketOf(events[start].Seq);
            var end = start;
            while (end < events.Count && BucketOf(events[end].Seq) == bucket)
            {
                end++;
            }

            yield return (bucket, events.Skip(start).Take(end - start).ToArray());
            start = end;
        }
    }

    /// <summary>How many newest buckets hold the newest <paramref name="count"/> events of a session ending at <paramref name="lastSeq"/>.</summary>
    public long BucketsForTail(long lastSeq, int count) =>
        lastSeq == 0 || count == 0 ? 0 : BucketOf(lastSeq) - BucketOf(Math.Max(1, lastSeq - count + 1)) + 1;
}
