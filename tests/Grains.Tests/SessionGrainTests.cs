using Microsoft.Data.Sqlite;
using Orleans.Runtime;
using SessionTracking.TestSupport;

namespace SessionTracking.Grains.Tests;

[TestCategory("BVT")]
[Collection(SessionClusterCollection.Name)]
public sealed class SessionGrainTests(SessionClusterFixture fixture)
{
    private static IncomingEvent Event(string type, string? id = null, long? t = null, string data = """{"k":1}""") => new(type, data, t, id);

    [Fact]
    public async Task Appended_events_are_numbered_in_order_and_read_back()
    {
        var grain = await fixture.StartSessionAsync();

        var first = await grain.AppendAsync(new AppendBatch([Event("click", t: 1_730_000_000_000), Event("scroll")]));
        var second = await grain.AppendAsync(new AppendBatch([Event("feedback", data: """{"feedback":"up"}""")]));
        var page = await grain.ReadAsync(0, 100);

        Assert.Equal((SessionStatus.Ok, 2, 2L), (first.Status, first.Accepted, first.LastSeq));
        Assert.Equal(3, second.LastSeq);
        Assert.NotNull(page);
        Assert.Equal(["click", "scroll", "feedback"], page.Events.Select(e => e.Type));
        Assert.Equal([1L, 2L, 3L], page.Events.Select(e => e.Seq));
        Assert.Equal(1_730_000_000_000, page.Events[0].T);
        Assert.Equal("""{"feedback":"up"}""", page.Events[2].DataJson);
        Assert.Equal("user-1", page.Session.UserId);
        Assert.Null(page.NextAfterSeq);
    }

    [Fact]
    public async Task Initial_events_are_stored_with_the_start_and_numbered_first()
    {
        var grain = fixture.Session(Guid.NewGuid().ToString("N"));
        var start = await grain.StartAsync(new StartSession("user-1", "exp-1", "b", "{}", [Event("exposure", "exposure", data: """{"model_group":"b"}""")]));
        var resend = await grain.AppendAsync(new AppendBatch([Event("exposure", "exposure"), Event("click")]));
        await fixture.Cluster.Client.GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero);
        var page = await grain.ReadAsync(0, 100);

        Assert.Equal(SessionStatus.Ok, start.Status);
        Assert.Equal((1, 1, 2L), (resend.Accepted, resend.Duplicates, resend.LastSeq));
        Assert.Equal([("exposure", 1L), ("click", 2L)], page!.Events.Select(e => (e.Type, e.Seq)));
        Assert.Equal("""{"model_group":"b"}""", page.Events[0].DataJson);
    }

    [Fact]
    public async Task Resent_client_ids_are_acknowledged_but_stored_once()
    {
        var grain = await fixture.StartSessionAsync();

        await grain.AppendAsync(new AppendBatch([Event("click", "a"), Event("click", "b")]));
        var resend = await grain.AppendAsync(new AppendBatch([Event("click", "b"), Event("click", "c"), Event("click", "c")]));
        var page = await grain.ReadAsync(0, 100);

        Assert.Equal((1, 2), (resend.Accepted, resend.Duplicates));
        Assert.Equal(["a", "b", "c"], page!.Events.Select(e => e.ClientId));
    }

    [Fact]
    public async Task Dedup_survives_deactivation_and_reaches_beyond_the_in_memory_window()
    {
        // The fixture keeps only 8 ids in memory: ids 0..19 must still be recognised, from the store.
        var grain = await fixture.StartSessionAsync();
        var ids = Enumerable.Range(0, 20).Select(i => $"id-{i}").ToArray();
        await grain.AppendAsync(new AppendBatch([.. ids.Select(id => Event("key", id))]));

        var sameActivation = await grain.AppendAsync(new AppendBatch([Event("key", "id-0"), Event("key", "id-19")]));
        await fixture.Cluster.Client.GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero);
        var newActivation = await grain.AppendAsync(new AppendBatch([Event("key", "id-1"), Event("key", "id-18"), Event("key", "id-new")]));
        var page = await grain.ReadAsync(0, 100);

        Assert.Equal((0, 2), (sameActivation.Accepted, sameActivation.Duplicates));
        Assert.Equal((1, 2), (newActivation.Accepted, newActivation.Duplicates));
        Assert.Equal(21, page!.Events.Length);
        Assert.Equal(21, page.Events.Select(e => e.ClientId).Distinct().Count());
    }

    [Fact]
    public async Task An_id_pushed_out_of_the_window_while_the_store_is_asked_is_still_found()
    {
        // 8 ids in memory (the fixture). The resend of id-0 waits in the store's exact check while another append's new ids
        // push id-19 (in the window when the resend arrived, so not asked about) out of the window.
        var grain = await fixture.StartSessionAsync();
        var sessionId = grain.GetPrimaryKeyString();
        await grain.AppendAsync(new AppendBatch([.. Enumerable.Range(0, 20).Select(i => Event("key", $"id-{i}"))]));
        var gate = new TaskCompletionSource();
        CountingStore.HoldExactChecks(sessionId, gate.Task);
        var checkedBefore = CountingStore.IdsCheckedOf(sessionId);

        var resend = grain.AppendAsync(new AppendBatch([Event("key", "id-0"), Event("key", "id-19")]));
        while (CountingStore.IdsCheckedOf(sessionId) == checkedBefore)
        {
            await Task.Delay(5);
        }

        var pushing = await grain.AppendAsync(new AppendBatch([.. Enumerable.Range(0, 10).Select(i => Event("key", $"new-{i}"))]));
        gate.SetResult();
        var result = await resend;
        var page = await grain.ReadAsync(0, 100);

        Assert.Equal(10, pushing.Accepted);
        Assert.Equal((0, 2), (result.Accepted, result.Duplicates));
        Assert.Equal(30, page!.Events.Length);
        Assert.Equal(30, page.Events.Select(e => e.ClientId).Distinct().Count());
    }

    [Fact]
    public async Task An_id_repeated_within_a_batch_is_stored_once()
    {
        var grain = await fixture.StartSessionAsync();
        var result = await grain.AppendAsync(new AppendBatch([Event("key", "dup"), Event("key", "other"), Event("key", "dup")]));
        var page = await grain.ReadAsync(0, 10);

        Assert.Equal((2, 1), (result.Accepted, result.Duplicates));
        Assert.Equal(["dup", "other"], page!.Events.Select(e => e.ClientId));
    }

    [Fact]
    public async Task Beyond_the_window_new_ids_pass_the_key_set_without_a_store_lookup_and_resends_are_still_found()
    {
        // 8 ids in memory (the fixture): after 40 events, 400 new ids in batches of 20, then resends of old ids.
        var grain = await fixture.StartSessionAsync();
        var sessionId = grain.GetPrimaryKeyString();
        await grain.AppendAsync(new AppendBatch([.. Enumerable.Range(0, 40).Select(i => Event("key", $"old-{i}"))]));
        await fixture.Cluster.Client.GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero);
        var accepted = 0;
        for (var batch = 0; batch < 20; batch++)
        {
            var result = await grain.AppendAsync(new AppendBatch([.. Enumerable.Range(0, 20).Select(i => Event("key", $"new-{batch}-{i}"))]));
            accepted += result.Accepted;
        }

        var checkedNew = CountingStore.IdsCheckedOf(sessionId);
        var resend = await grain.AppendAsync(new AppendBatch([Event("key", "old-0"), Event("key", "old-39"), Event("key", "new-3-7"), Event("key", "fresh")]));

        Assert.Equal(400, accepted);
        Assert.True(checkedNew < 10, $"{checkedNew} of 400 new ids went to the store's exact check (the filter's false-positive rate is about 2e-6 per id)");
        Assert.Equal((1, 3), (resend.Accepted, resend.Duplicates));
        Assert.True(CountingStore.IdsCheckedOf(sessionId) >= checkedNew + 3, "the resends beyond the window were confirmed by the store");
    }

    [Fact]
    public async Task End_is_idempotent_and_refuses_new_events_but_answers_resends()
    {
        var grain = await fixture.StartSessionAsync();
        await grain.AppendAsync(new AppendBatch([Event("click", "x")]));

        var end1 = await grain.EndAsync();
        var end2 = await grain.EndAsync();
        var late = await grain.AppendAsync(new AppendBatch([Event("click", "y")]));
        var resend = await grain.AppendAsync(new AppendBatch([Event("click", "x")]));
        var page = await grain.ReadAsync(0, 100);

        Assert.Equal(SessionStatus.Ok, end1.Status);
        Assert.NotNull(end1.EndTime);
        Assert.Equal(end1.EndTime, end2.EndTime);
        Assert.Equal(SessionStatus.Ended, late.Status);
        Assert.Equal((SessionStatus.Ok, 0, 1), (resend.Status, resend.Accepted, resend.Duplicates));
        Assert.Equal(end1.EndTime, page!.Session.EndTime);
        Assert.Single(page.Events);
    }

    [Fact]
    public async Task A_batch_with_end_stores_its_events_and_the_end_together()
    {
        var grain = await fixture.StartSessionAsync();

        var result = await grain.AppendAsync(new AppendBatch([Event("scroll", "s1"), Event("navigate", "s2")], End: true));
        await fixture.Cluster.Client.GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero);
        var page = await grain.ReadAsync(0, 100);

        Assert.True(result.Ended);
        Assert.Equal(2, result.Accepted);
        Assert.NotNull(page!.Session.EndTime);
        Assert.Equal(2, page.Events.Length);
    }

    [Fact]
    public async Task Long_sessions_are_read_in_pages()
    {
        var grain = await fixture.StartSessionAsync();
        await grain.AppendAsync(new AppendBatch([.. Enumerable.Range(0, 25).Select(i => Event("scroll", $"p{i}"))]));

        var seen = new List<long>();
        long after = 0;
        int pages = 0;
        while (true)
        {
            var page = await grain.ReadAsync(after, 10);
            pages++;
            seen.AddRange(page!.Events.Select(e => e.Seq));
            if (page.NextAfterSeq is not { } next)
            {
                break;
            }

            after = next;
        }

        Assert.Equal(3, pages);
        Assert.Equal(Enumerable.Range(1, 25).Select(i => (long)i), seen);
    }

    [Fact]
    public async Task Unknown_sessions_are_not_found()
    {
        var grain = fixture.Session("never-started-" + Guid.NewGuid().ToString("N"));

        Assert.Equal(SessionStatus.NotFound, (await grain.AppendAsync(new AppendBatch([Event("click")]))).Status);
        Assert.Equal(SessionStatus.NotFound, (await grain.EndAsync()).Status);
        Assert.Null(await grain.ReadAsync(0, 10));
    }

    [Fact]
    public async Task Starting_twice_is_refused()
    {
        var grain = await fixture.StartSessionAsync();

        var again = await grain.StartAsync(new StartSession("other", "e", "g", "{}"));

        Assert.Equal(SessionStatus.AlreadyExists, again.Status);
    }

    [Fact]
    public async Task Concurrent_appends_to_one_session_share_store_writes_and_lose_nothing()
    {
        var grain = await fixture.StartSessionAsync();
        var sessionId = grain.GetPrimaryKeyString();
        const int requests = 200;

        var results = await Task.WhenAll(Enumerable.Range(0, requests)
            .Select(i => grain.AppendAsync(new AppendBatch([Event("scroll", $"c{i}")])).AsTask()));
        var page = await grain.ReadAsync(0, 1000);

        Assert.All(results, r => Assert.Equal(1, r.Accepted));
        Assert.Equal(requests, page!.Events.Length);
        Assert.Equal(Enumerable.Range(1, requests).Select(i => (long)i), page.Events.Select(e => e.Seq));
        Assert.Equal(requests, page.Events.Select(e => e.ClientId).Distinct().Count());
        // Group commit: appends arriving during a write join the next one.
        Assert.True(CountingStore.FlushesOf(sessionId) < requests / 2, $"{CountingStore.FlushesOf(sessionId)} store writes for {requests} appends");
    }

    [Fact]
    public async Task Query_exchanges_and_legacy_events_reach_the_session_and_the_legacy_tables()
    {
        var grain = await fixture.StartSessionAsync(userId: "legacy-user", modelGroup: "claude");
        var sessionId = grain.GetPrimaryKeyString();
        var row = new QueryRow(sessionId, null, null, "What is ML?", "ML is...", "m1", "offline", 42, "[]", DateTimeOffset.UtcNow);

        await grain.RecordExchangeAsync(new QueryExchange(Event("prompt", data: """{"text":"What is ML?"}"""), Event("model_response", data: """{"text":"ML is...","latency_ms":42}"""), row));
        await grain.RecordLegacyEventAsync(new LegacyEvent("legacy-user", sessionId, "copy", """{"selected_text":"ML"}""", DateTimeOffset.UtcNow));
        await fixture.Grains.GetGrain<ILegacyLogGrain>(0).WriteEventAsync(new LegacyEvent("no-session-user", null, "click", "{}", DateTimeOffset.UtcNow));
        var page = await grain.ReadAsync(0, 10);

        Assert.Equal(["prompt", "model_response", "copy"], page!.Events.Select(e => e.Type));
        await using var db = new SqliteConnection($"Data Source={fixture.DatabasePath};Mode=ReadOnly");
        await db.OpenAsync();
        Assert.Equal("legacy-user|claude|What is ML?|ML is...|42", await ScalarAsync(db, $"SELECT user_id || '|' || model_group || '|' || query || '|' || response || '|' || latency_ms FROM queries WHERE session_id = '{sessionId}'"));
        Assert.Equal("copy", await ScalarAsync(db, $"SELECT event_type FROM events WHERE session_id = '{sessionId}'"));
        Assert.Equal(1L, await ScalarAsync(db, "SELECT COUNT(*) FROM events WHERE user_id = 'no-session-user' AND session_id IS NULL"));
    }

    private static async Task<object?> ScalarAsync(SqliteConnection db, string sql)
    {
        await using var command = db.CreateCommand();
        command.CommandText = sql;
        return await command.ExecuteScalarAsync();
    }
}
