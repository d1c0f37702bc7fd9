using System.Net;
using System.Text.Json;
using SessionTracking.TestSupport;

namespace SessionTracking.Analytics.Tests;

[TestCategory("BVT")]
public sealed class ExportTests(SeededGateway gateway) : IClassFixture<SeededGateway>
{
    [Fact]
    public async Task Sessions_jsonl_are_guide_documents_with_their_events_in_order()
    {
        var (mediaType, text) = await GetAsync("/exports/sessions.jsonl?experiment_id=exp-a");
        Assert.Equal("application/x-ndjson", mediaType);
        var documents = Lines(text).Select(l => JsonDocument.Parse(l).RootElement).ToList();

        // exp-a sessions in start order: c1 (T0), t1 (+500), c2 (+1000), t2 (+1500), c3 (+2000), c4 (+3000).
        Assert.Equal(["c1", "t1", "c2", "t2", "c3", "c4"], documents.Select(d => d.GetProperty("session_id").GetString()));
        var c2 = documents[2];
        Assert.Equal("bob", c2.GetProperty("user_id").GetString());
        Assert.Equal("control", c2.GetProperty("model_group").GetString());
        Assert.Equal("2023-11-14T22:13:21.000Z", c2.GetProperty("start_time").GetString());
        Assert.Equal("2023-11-14T22:15:21.000Z", c2.GetProperty("end_time").GetString());
        Assert.Equal("test, \"quoted\"", c2.GetProperty("environment").GetProperty("device").GetString());
        var events = c2.GetProperty("events").EnumerateArray().ToList();
        Assert.Equal(["prompt", "model_response", "prompt", "model_response", "feedback"], events.Select(e => e.GetProperty("type").GetString()));
        Assert.Equal([1L, 2, 3, 4, 5], events.Select(e => e.GetProperty("seq").GetInt64()));
        Assert.Equal(3000, events[3].GetProperty("data").GetProperty("latency_ms").GetInt32());
        Assert.Equal(5, c2.GetProperty("event_count").GetInt64());
        Assert.Equal(JsonValueKind.Null, documents[5].GetProperty("end_time").ValueKind);
    }

    [Fact]
    public async Task Sessions_csv_has_one_quoted_row_per_session()
    {
        var (mediaType, text) = await GetAsync("/exports/sessions.csv");
        Assert.Equal("text/csv", mediaType);
        var lines = text.Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("session_id,user_id,experiment_id,model_group,start_time,end_time,duration_ms,event_count,environment", lines[0]);
        Assert.Equal(8, lines.Length); // header + 7 sessions
        // RFC 4180: the environment JSON holds commas and quotes, so it is quoted with its quotes doubled.
        Assert.Equal(
            "c2,bob,exp-a,control,2023-11-14T22:13:21.000Z,2023-11-14T22:15:21.000Z,120000,5,\"{\"\"device\"\":\"\"test, \\\"\"quoted\\\"\"\"\"}\"",
            lines.Single(l => l.StartsWith("c2,", StringComparison.Ordinal)));
        Assert.Single(lines, l => l.StartsWith("c4,dave,exp-a,control,2023-11-14T22:13:23.000Z,,,3,", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Events_jsonl_and_csv_carry_every_event_once()
    {
        var (_, jsonl) = await GetAsync("/exports/events.jsonl?experiment_id=exp-a&model_group=treatment");
        var events = Lines(jsonl).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal(9, events.Count); // t1: 6 events, t2: 3
        Assert.All(events, e => Assert.Equal("treatment", e.GetProperty("model_group").GetString()));
        Assert.Equal("t1-e2", events[1].GetProperty("id").GetString());
        Assert.Equal(500, events[1].GetProperty("data").GetProperty("latency_ms").GetInt32());
        Assert.Equal(Dataset.T0 + 500 + 2000, events[1].GetProperty("t").GetInt64());
        Assert.Equal(Dataset.T0 + 500 + 2000, events[1].GetProperty("corrected_t").GetInt64()); // stored without one: t (= received_at here)

        var (_, csv) = await GetAsync("/exports/events.csv?to=" + (Dataset.T0 + Dataset.Day));
        var lines = csv.Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("session_id,user_id,experiment_id,model_group,seq,t,time,type,id,data,corrected_t", lines[0]);
        Assert.Equal(1 + 4 + 5 + 4 + 3 + 6 + 3, lines.Length);
        Assert.Contains($"t1,erin,exp-a,treatment,2,{Dataset.T0 + 2500},2023-11-14T22:13:22.500Z,model_response,t1-e2,\"{{\"\"latency_ms\"\":500}}\",{Dataset.T0 + 2500}", lines);
    }

    [Theory]
    [InlineData("/exports/sessions.xml", HttpStatusCode.NotFound)]
    [InlineData("/exports/events.csv?from=noon", HttpStatusCode.BadRequest)]
    public async Task Bad_exports_are_problems(string path, HttpStatusCode status)
    {
        using var response = await gateway.Client.GetAsync(path);
        Assert.Equal(status, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }

    private async Task<(string? MediaType, string Text)> GetAsync(string path)
    {
        using var response = await gateway.Client.GetAsync(path);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (response.Content.Headers.ContentType?.MediaType, await response.Content.ReadAsStringAsync());
    }

    private static IEnumerable<string> Lines(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries);
}
