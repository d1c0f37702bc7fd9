using System.Collections.Concurrent;
using System.Text.Json;
using SessionTracking.TestSupport;

namespace SessionTracking.Gateway.Tests;

[TestCategory("BVT")]
public sealed class DurabilityTests
{
    [Fact]
    public async Task A_new_host_on_the_same_data_file_sees_every_acknowledged_event_of_ended_and_open_sessions()
    {
        string open, ended;
        using var data = new TempDirectory("gateway-restart");
        await using (var first = new GatewayHost(data.Path))
        {
            var client = first.CreateClient();
            open = await client.StartSessionAsync();
            ended = await client.StartSessionAsync();
            for (var i = 0; i < 5; i++)
            {
                Assert.Equal(200, (await client.PostAsync("/session/event", $$"""{"session_id":"{{open}}","type":"scroll","id":"o{{i}}"}""")).Status);
            }

            Assert.Equal(200, (await client.PostAsync("/session/event", $$"""{"session_id":"{{ended}}","events":[{"type":"click","id":"e0"}],"end":true}""")).Status);
        }

        await using var second = new GatewayHost(data.Path);
        var restarted = second.CreateClient();
        var openDocument = await restarted.GetSessionAsync(open);
        var endedDocument = await restarted.GetSessionAsync(ended);
        var resend = await restarted.PostAsync("/session/event", $$"""{"session_id":"{{open}}","type":"scroll","id":"o4"}""");

        Assert.Equal(["o0", "o1", "o2", "o3", "o4"], openDocument.GetProperty("events").EnumerateArray().Select(e => e.GetProperty("id").GetString()));
        Assert.Equal(JsonValueKind.Null, openDocument.GetProperty("end_time").ValueKind);
        Assert.Single(endedDocument.GetProperty("events").EnumerateArray());
        Assert.NotEqual(JsonValueKind.Null, endedDocument.GetProperty("end_time").ValueKind);
        Assert.Equal(1, resend.Body.GetProperty("duplicates").GetInt32());
    }

    [Fact]
    public async Task Parallel_appends_over_a_few_sessions_store_exactly_what_was_acknowledged()
    {
        await using var factory = new GatewayHost();
        var client = factory.CreateClient();
        var sessions = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => client.StartSessionAsync()));
        var acknowledged = new ConcurrentDictionary<string, int>();

        await Parallel.ForEachAsync(Enumerable.Range(0, 400), new ParallelOptions { MaxDegreeOfParallelism = 32 }, async (i, _) =>
        {
            var session = sessions[i % sessions.Length];
            var (status, body, _) = await client.PostAsync("/session/event", $$"""{"session_id":"{{session}}","events":[{"type":"scroll","id":"p{{i}}-a"},{"type":"click","id":"p{{i}}-b"}]}""");
            Assert.Equal(200, status);
            acknowledged.AddOrUpdate(session, body.GetProperty("accepted").GetInt32(), (_, n) => n + body.GetProperty("accepted").GetInt32());
        });

        foreach (var session in sessions)
        {
            var events = (await client.GetSessionAsync(session)).GetProperty("events").EnumerateArray().ToArray();
            Assert.Equal(acknowledged[session], events.Length);
            Assert.Equal(200, events.Length);
            Assert.Equal(events.Length, events.Select(e => e.GetProperty("id").GetString()).Distinct().Count());
            Assert.Equal(Enumerable.Range(1, events.Length).Select(n => (long)n), events.Select(e => e.GetProperty("seq").GetInt64()));
        }
    }
}
