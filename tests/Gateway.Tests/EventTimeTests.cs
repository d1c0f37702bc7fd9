using System.Text.Json;
using SessionTracking.TestSupport;

namespace SessionTracking.Gateway.Tests;

/// <summary>
/// <c>sent_at</c> on POST /session/event and <c>corrected_t</c> in the session document, with the default bounds
/// (Sessions:MaxClockSkew 30 days, Sessions:SentAtTolerance 1 s). The server's receive time is read back from
/// <c>received_at</c>, so every expected corrected time is exact.
/// </summary>
[TestCategory("BVT")]
[Collection(GatewayCollection.Name)]
public sealed class EventTimeTests(SmallLimitsGateway gateway)
{
    private const long Minute = 60_000;
    private const long Day = 24 * 60 * Minute;
    private readonly HttpClient _client = gateway.CreateClient();

    [Fact]
    public async Task A_batch_from_a_clock_ten_minutes_ahead_is_stored_with_times_on_the_server_clock()
    {
        var id = await _client.StartSessionAsync();
        var before = Now();
        var sent = before + (10 * Minute);

        var (status, _, _) = await _client.PostAsync("/session/event", $$"""
            {"session_id":"{{id}}","sent_at":{{sent}},"events":[
              {"type":"click","t":{{sent - 3_000}},"id":"a1"},{"type":"scroll","t":{{sent - 120.7}},"id":"a2"}]}
            """);
        var after = Now();

        Assert.Equal(200, status);
        var events = await EventsAsync(id);
        Assert.Equal([sent - 3_000, sent - 121], events.Select(e => e.T)); // the guide's t is kept as sent (fraction truncated)
        foreach (var e in events)
        {
            Assert.InRange(e.ReceivedAt, before, after);
            Assert.Equal(e.ReceivedAt - (sent - e.T), e.CorrectedT);
        }
    }

    [Fact]
    public async Task A_single_event_and_a_beacon_with_the_end_carry_sent_at_too()
    {
        var id = await _client.StartSessionAsync();
        var sent = Now() - (2 * Day); // a clock two days behind

        var single = await _client.PostAsync("/session/event", $$"""{"session_id":"{{id}}","type":"copy","t":{{sent - 700}},"sent_at":{{sent}}}""");
        var beacon = await _client.PostAsync("/session/event", $$"""
            {"session_id":"{{id}}","sent_at":{{sent + 5_000}},"end":true,"events":[{"type":"navigate","t":{{sent + 4_000}}}]}
            """, "text/plain");

        Assert.Equal((200, 200), (single.Status, beacon.Status));
        var events = await EventsAsync(id);
        Assert.Equal(events[0].ReceivedAt - 700, events[0].CorrectedT);
        Assert.Equal(events[1].ReceivedAt - 1_000, events[1].CorrectedT);
    }

    [Fact]
    public async Task Without_sent_at_t_is_kept_and_never_later_than_the_receipt()
    {
        var id = await _client.StartSessionAsync();
        var now = Now();

        await _client.PostAsync("/session/event", $$"""
            {"session_id":"{{id}}","events":[{"type":"click","t":{{now - Minute}}},{"type":"click","t":{{now + (10 * Minute)}}},{"type":"key"}]}
            """);

        var events = await EventsAsync(id);
        Assert.Equal(now - Minute, events[0].CorrectedT);
        Assert.Equal(events[1].ReceivedAt, events[1].CorrectedT);
        Assert.Equal((events[2].ReceivedAt, events[2].ReceivedAt), (events[2].T, events[2].CorrectedT)); // no t: the receive time
    }

    [Theory]
    [InlineData(0L)]              // the epoch: absent in spirit
    [InlineData(31 * Day)]        // a month in the future
    [InlineData(-31 * Day)]       // a month in the past
    public async Task An_absurd_sent_at_is_not_applied(long offsetFromNow)
    {
        var id = await _client.StartSessionAsync();
        var now = Now();
        var sent = offsetFromNow == 0 ? 0 : now + offsetFromNow;
        var t = Math.Max(0, Math.Min(now, sent) - Minute); // sent after t: only the skew bound refuses sent_at

        await _client.PostAsync("/session/event", $$"""
            {"session_id":"{{id}}","sent_at":{{sent}},"events":[{"type":"click","t":{{t}}}]}
            """);

        Assert.Equal(t, (await EventsAsync(id))[0].CorrectedT);
    }

    [Fact]
    public async Task A_batch_sent_before_its_event_falls_back_to_t_beyond_the_tolerance_only()
    {
        var id = await _client.StartSessionAsync();
        var now = Now();

        // sent_at 5 s before t: not trusted. 400 ms before t (within 1 s): applied, and clamped to the receipt.
        await _client.PostAsync("/session/event", $$"""{"session_id":"{{id}}","sent_at":{{now - Minute - 5_000}},"events":[{"type":"click","t":{{now - Minute}}}]}""");
        await _client.PostAsync("/session/event", $$"""{"session_id":"{{id}}","sent_at":{{now + Minute}},"events":[{"type":"click","t":{{now + Minute + 400}}}]}""");

        var events = await EventsAsync(id);
        Assert.Equal(now - Minute, events[0].CorrectedT);
        Assert.Equal(events[1].ReceivedAt, events[1].CorrectedT);
    }

    [Theory]
    [InlineData("\"1750000000000\"")]
    [InlineData("-1")]
    [InlineData("1e300")]
    [InlineData("true")]
    public async Task A_malformed_sent_at_is_a_400_naming_it(string value)
    {
        var id = await _client.StartSessionAsync();

        var (status, body, mediaType) = await _client.PostAsync("/session/event", $$"""{"session_id":"{{id}}","sent_at":{{value}},"events":[{"type":"click"}]}""");

        Assert.Equal((400, "application/problem+json"), (status, mediaType));
        Assert.Contains("'sent_at'", body.GetProperty("detail").GetString());
        Assert.Empty(await EventsAsync(id));
    }

    [Fact]
    public async Task A_resent_batch_with_a_later_sent_at_keeps_the_first_stored_times()
    {
        var id = await _client.StartSessionAsync();
        var sent = Now() + (10 * Minute);
        var batch = $$"""{"type":"click","t":{{sent - 1_000}},"id":"r1"}""";

        await _client.PostAsync("/session/event", $$"""{"session_id":"{{id}}","sent_at":{{sent}},"events":[{{batch}}]}""");
        var first = await EventsAsync(id);
        var (status, body, _) = await _client.PostAsync("/session/event", $$"""{"session_id":"{{id}}","sent_at":{{sent + 30_000}},"events":[{{batch}}]}""");

        Assert.Equal((200, 1), (status, body.GetProperty("duplicates").GetInt32()));
        Assert.Equal(first, await EventsAsync(id));
    }

    [Fact]
    public async Task The_event_exports_carry_corrected_t_beside_t()
    {
        var experiment = "event-time-" + Guid.NewGuid().ToString("N");
        var (_, started, _) = await _client.PostAsync("/session/start", $$"""{"user_id":"u","model_group":"g","experiment_id":"{{experiment}}"}""");
        var id = started.GetProperty("session_id").GetString()!;
        var sent = Now() + (10 * Minute);
        await _client.PostAsync("/session/event", $$"""{"session_id":"{{id}}","sent_at":{{sent}},"events":[{"type":"click","t":{{sent - 2_000}}}]}""");
        var stored = (await EventsAsync(id))[0];

        var jsonl = await _client.GetStringAsync($"/exports/events.jsonl?experiment_id={experiment}");
        var csv = (await _client.GetStringAsync($"/exports/events.csv?experiment_id={experiment}")).Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
        var sessions = await _client.GetStringAsync($"/exports/sessions.jsonl?experiment_id={experiment}");

        var row = JsonDocument.Parse(jsonl).RootElement;
        Assert.Equal((sent - 2_000, stored.ReceivedAt - 2_000), (row.GetProperty("t").GetInt64(), row.GetProperty("corrected_t").GetInt64()));
        Assert.EndsWith(",corrected_t", csv[0]);
        Assert.EndsWith($",{stored.ReceivedAt - 2_000}", csv[1]);
        Assert.Contains($",{sent - 2_000},", csv[1]);
        var exported = JsonDocument.Parse(sessions).RootElement.GetProperty("events")[0];
        Assert.Equal(stored.ReceivedAt - 2_000, exported.GetProperty("corrected_t").GetInt64());
    }

    private static long Now() => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    private async Task<List<(long T, long ReceivedAt, long CorrectedT)>> EventsAsync(string id)
    {
        var document = await _client.GetSessionAsync(id);
        return [.. document.GetProperty("events").EnumerateArray().Select(e =>
            (e.GetProperty("t").GetInt64(), e.GetProperty("received_at").GetInt64(), e.GetProperty("corrected_t").GetInt64()))];
    }
}
