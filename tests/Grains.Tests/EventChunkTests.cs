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
    public void A_tracker_batch_round_trips_and_takes_a_quarter_fewer_bytes_than_version_1()
    {
        // Ids as the tracker sends them (<instance>-<seq>), equal or close times, a repeated type with others between;
        // ids whose shared prefix ends inside a two-byte character (é = C3 A9, è = C3 A8), and events without ids.
        var events = Enumerable.Range(1, 50).Select(i => new StoredEvent(
            i,
            1_730_000_000_000 + (i / 10),
            i % 7 == 0 ? "scroll" : "click",
            $$"""{"target":"BUTTON","x":{{150 + i}},"y":300,"page_url":"/chat"}""",
            i % 11 == 0 ? null : i % 13 == 0 ? $"aé{i}" : i % 13 == 1 ? $"aè{i}" : $"3f9a0c1b2d4e-{i}",
            1_730_000_000_500,
            i % 5 == 0 ? null : 1_730_000_000_000 + (i / 10) - 40)).ToArray();

        var version2 = Encode(events, 0, events.Length);
        var version1 = EncodeVersion1(events);

        Assert.Equal(events, EventChunk.Decode(version2, 1));
        Assert.Equal(events, EventChunk.Decode(version1, 1)); // chunks written before version 2 still read
        Assert.Equal(events[17..], EventChunk.Decode(Encode(events, 17, 33), 18)); // a chunk that starts mid-flush
        Assert.True(version2.Length < version1.Length * 3 / 4, $"version 2: {version2.Length} B, version 1: {version1.Length} B");
    }

    [Fact]
    public void A_chunk_of_an_unknown_version_is_refused()
    {
        Assert.Throws<InvalidDataException>(() => EventChunk.Decode([9, 0], 1));
    }

    /// <summary>The first layout, as databases written before version 2 hold it.</summary>
    private static byte[] EncodeVersion1(IReadOnlyList<StoredEvent> events)
    {
        var bytes = new List<byte> { 1 };
        Varint((ulong)events.Count);
        foreach (var e in events)
        {
            Varint(ZigZag(e.T));
            Varint(ZigZag(e.ReceivedAt));
            Varint(e.CorrectedTime is { } corrected ? ZigZag(corrected) + 1 : 0);
            Text(e.Type, 0);
            Text(e.DataJson, 0);
            if (e.ClientId is null)
            {
                Varint(0);
            }
            else
            {
                Text(e.ClientId, 1);
            }
        }

        return [.. bytes];

        static ulong ZigZag(long value) => (ulong)((value << 1) ^ (value >> 63));

        void Text(string value, ulong offset)
        {
            var utf8 = System.Text.Encoding.UTF8.GetBytes(value);
            Varint((ulong)utf8.Length + offset);
            bytes.AddRange(utf8);
        }

        void Varint(ulong value)
        {
            for (; value >= 0x80; value >>= 7)
            {
                bytes.Add((byte)(value | 0x80));
            }

            bytes.Add((byte)value);
        }
    }

    internal static byte[] Encode(IReadOnlyList<StoredEvent> events, int start, int count)
    {
        var buffer = new ArrayBufferWriter<byte>();
        EventChunk.Encode(events, start, count, buffer);
        return buffer.WrittenSpan.ToArray();
    }
}
