using System.Buffers;
using Microsoft.Data.Sqlite;
using SessionTracking.Storage.Sqlite;
using SessionTracking.TestSupport;

namespace SessionTracking.Grains.Tests;

/// <summary>
/// Another activation of the same session writing to the store behind this one's back (two activations while the
/// cluster's membership changes, a silo that wakes after its sessions moved): simulated by writing chunks directly.
/// </summary>
[TestCategory("BVT")]
[Collection(SessionClusterCollection.Name)]
public sealed class ConcurrentActivationTests(SessionClusterFixture fixture)
{
    [Fact]
    public async Task An_append_that_meets_rows_written_by_another_activation_reloads_and_is_numbered_after_them()
    {
        var grain = await fixture.StartSessionAsync();
        var sessionId = grain.GetPrimaryKeyString();
        await grain.AppendAsync(new AppendBatch([Click("a"), Click("b")]));
        await WriteAsOtherActivationAsync(sessionId, (3, "x"), (4, "y"));

        // The grain numbers "c" 3, the store refuses it, the grain reloads (last seq 4, ids x and y) and numbers it 5.
        var append = await grain.AppendAsync(new AppendBatch([Click("c")]));
        var resend = await grain.AppendAsync(new AppendBatch([Click("x"), Click("d")]));
        var page = await grain.ReadAsync(0, 100);

        Assert.Equal((SessionStatus.Ok, 1, 0, 5L), (append.Status, append.Accepted, append.Duplicates, append.LastSeq));
        Assert.Equal((1, 1, 6L), (resend.Accepted, resend.Duplicates, resend.LastSeq));
        Assert.Equal(["a", "b", "x", "y", "c", "d"], page!.Events.Select(e => e.ClientId));
        Assert.Equal([1L, 2L, 3L, 4L, 5L, 6L], page.Events.Select(e => e.Seq));
    }

    [Fact]
    public async Task A_resend_of_an_id_the_other_activation_stored_is_a_duplicate_not_a_second_row()
    {
        var grain = await fixture.StartSessionAsync();
        var sessionId = grain.GetPrimaryKeyString();
        await grain.AppendAsync(new AppendBatch([Click("a")]));
        await WriteAsOtherActivationAsync(sessionId, (2, "retried"));

        // This activation does not know "retried": it numbers it 2 and meets both keys taken; after the reload it is a duplicate.
        var resend = await grain.AppendAsync(new AppendBatch([Click("retried")]));
        var page = await grain.ReadAsync(0, 100);

        Assert.Equal((SessionStatus.Ok, 0, 1, 2L), (resend.Status, resend.Accepted, resend.Duplicates, resend.LastSeq));
        Assert.Equal(["a", "retried"], page!.Events.Select(e => e.ClientId));
    }

    private static IncomingEvent Click(string id) => new("click", "{}", null, id);

    /// <summary>Stores consecutive events as one chunk, as another activation's flush would.</summary>
    private async Task WriteAsOtherActivationAsync(string sessionId, params (long Seq, string Id)[] events)
    {
        await using var db = new SqliteConnection($"Data Source={fixture.DatabasePath};Pooling=False");
        await db.OpenAsync();
        var stored = events.Select(e => new StoredEvent(e.Seq, 1, "click", "{}", e.Id, 1)).ToArray();
        await using var insert = db.CreateCommand();
        insert.CommandText = "INSERT INTO event_chunks (session_id, first_seq, last_seq, id_hashes, events) VALUES ($s, $first, $last, $hashes, $events)";
        insert.Parameters.AddWithValue("$s", sessionId);
        insert.Parameters.AddWithValue("$first", stored[0].Seq);
        insert.Parameters.AddWithValue("$last", stored[^1].Seq);
        var hashes = new ArrayBufferWriter<byte>();
        EventChunk.EncodeIdHashes(stored, 0, stored.Length, hashes);
        insert.Parameters.AddWithValue("$hashes", hashes.WrittenSpan.ToArray());
        insert.Parameters.AddWithValue("$events", EventChunkTests.Encode(stored, 0, stored.Length));
        await insert.ExecuteNonQueryAsync();
    }
}
