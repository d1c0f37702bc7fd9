using System.Buffers;
using SessionTracking.Storage.Sqlite;
using SessionTracking.TestSupport;

namespace SessionTracking.Grains.Tests;

[TestCategory("BVT")]
public sealed class EventChunkTests
{
    [Fact]
    public void Events_round_trip_with_every_field_kind()
    {
        var events = new StoredEvent[]
        {
            new(41, 1_730_000_000_000, "click", "{}", null, 1_730_000_000_100),
            new(42, -5, "my_custom:type", """{"text":"é ✓ \"q\" \\ 𝄞","n":[1,2.5e3]}""", "id-é", 0, CorrectedTime: -7),
            new(43, long.MaxValue, "model_response", new string('x', 70_000), "", long.MinValue, CorrectedTime: 0),
        };

        var decoded = EventChunk.Decode(Encode(events, 0, events.Length), 41);
        var tail = EventChunk.Decode(Encode(events, 1, 2), 42);

        Assert.Equal(events, decoded);
        Assert.Equal(events[1..], tail);
    }

    [Fact]
    public void Id_hashes_cover_the_events_with_ids_only()
    {
        var events = new StoredEvent[] { new(1, 1, "click", "{}", "a", 1), new(2, 1, "click", "{}", null, 1), new(3, 1, "click", "{}", "b", 1) };
        var hashes = new List<ulong>();
        var written = new ArrayBufferWriter<byte>();
        var none = new ArrayBufferWriter<byte>();

        Assert.True(EventChunk.EncodeIdHashes(events, 0, 3, written));
        EventChunk.ReadIdHashes(written.WrittenSpan, hashes);

        Assert.Equal([Storage.ClientIdHash.Of("a"), Storage.ClientIdHash.Of("b")], hashes);
        Assert.False(EventChunk.EncodeIdHashes(events, 1, 1, none));
        Assert.Equal(0, none.WrittenCount);
    }

    [Fact]
    public void Id_hashes_the_grain_computed_are_written_as_they_came_and_the_rest_are_computed()
    {
        // 12345 is not the hash of "a": written as it came shows the writer did not hash the id again. 1 is what the grain
        // holds for a hash of 0 as well, so it is computed; 0 is "not computed" (an event that crossed a process).
        var events = new StoredEvent[] { new(1, 1, "click", "{}", "a", 1) { IdHash = 12345 }, new(2, 1, "click", "{}", "b", 1) { IdHash = 1 }, new(3, 1, "click", "{}", "c", 1) };
        var hashes = new List<ulong>();
        var written = new ArrayBufferWriter<byte>();

        Assert.True(EventChunk.EncodeIdHashes(events, 0, 3, written));
        EventChunk.ReadIdHashes(written.WrittenSpan, hashes);

        Assert.Equal([12345UL, Storage.ClientIdHash.Of("b"), Storage.ClientIdHash.Of("c")], hashes);
        Assert.Equal(events[0] with { IdHash = 0 }, events[0]); // not part of the event's equality
    }

    [Fact]
    public void A_chunk_of_an_unknown_version_is_refused()
    {
        Assert.Throws<InvalidDataException>(() => EventChunk.Decode([9, 0], 1));
    }

    internal static byte[] Encode(IReadOnlyList<StoredEvent> events, int start, int count)
    {
        var buffer = new ArrayBufferWriter<byte>();
        EventChunk.Encode(events, start, count, buffer);
        return buffer.WrittenSpan.ToArray();
    }
}
