using System.Net;
using System.Net.Http.Json;
using System.Net.ServerSentEvents;
using System.Text;
using System.Text.Json;
using SessionTracking.TestSupport;

namespace SessionTracking.Gateway.Tests;

/// <summary>POST /query/stream: server-sent events, recorded with time to first token, tokens/s and stop.</summary>
[TestCategory("BVT")]
public sealed class StreamingQueryTests
{
    private const string Prompt = "What is machine learning, in one short paragraph please?";

    [Fact]
    public async Task Streams_tokens_then_done_and_records_time_to_first_token_tokens_and_rate()
    {
        await using var factory = Gateway(tokenDelayMs: 20);
        var client = factory.CreateClient();
        var experiment = "stream-" + Guid.NewGuid().ToString("N")[..8];
        using var started = await client.PostAsync("/session/start", Api.Json($$"""{"user_id":"u1","model_group":"offline","experiment_id":"{{experiment}}"}"""));
        var sessionId = (await started.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("session_id").GetString()!;

        using var response = await SendAsync(client, $$"""{"prompt":"{{Prompt}}","session_id":"{{sessionId}}"}""");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        var events = await ReadAllAsync(response);

        var tokens = events.Where(e => e.EventType == "token").Select(e => Parse(e.Data).GetProperty("text").GetString()!).ToList();
        var done = Parse(Assert.Single(events, e => e.EventType == "done").Data);
        Assert.Equal("done", events[^1].EventType);
        Assert.True(tokens.Count >= 10, $"{tokens.Count} token events");
        Assert.Equal(string.Concat(tokens), done.GetProperty("response").GetString());
        Assert.StartsWith("(offline model) You asked: \"" + Prompt, done.GetProperty("response").GetString());
        Assert.Equal(tokens.Count, done.GetProperty("tokens").GetInt64());
        var ttft = done.GetProperty("ttft_ms").GetInt64();
        var latency = done.GetProperty("latency_ms").GetInt64();
        Assert.InRange(ttft, 15, latency); // the first word waits one 20 ms delay
        Assert.True(latency >= 20L * tokens.Count - 50, $"latency {latency} ms for {tokens.Count} tokens 20 ms apart");
        var rate = done.GetProperty("tokens_per_second").GetDouble();
        Assert.InRange(rate, 1, 55); // at most one token per 20 ms, with some timer slack
        Assert.False(done.GetProperty("stopped").GetBoolean());
        Assert.Equal(sessionId, done.GetProperty("session_id").GetString());

        var session = await client.GetSessionAsync(sessionId);
        var recorded = session.GetProperty("events").EnumerateArray().ToList();
        Assert.Equal(["prompt", "model_response"], recorded.Select(e => e.GetProperty("type").GetString()));
        Assert.Equal(Prompt, recorded[0].GetProperty("data").GetProperty("text").GetString());
        var data = recorded[1].GetProperty("data");
        Assert.Equal(done.GetProperty("response").GetString(), data.GetProperty("text").GetString());
        Assert.Equal(ttft, data.GetProperty("ttft_ms").GetInt64());
        Assert.Equal(latency, data.GetProperty("latency_ms").GetInt64());
        Assert.Equal(tokens.Count, data.GetProperty("tokens").GetInt64());
        Assert.Equal("chunks", data.GetProperty("tokens_source").GetString());
        Assert.Equal(rate, data.GetProperty("tokens_per_second").GetDouble());
        Assert.True(data.GetProperty("streamed").GetBoolean());
        Assert.False(data.GetProperty("stopped").GetBoolean());
        Assert.Equal("offline-echo-1", data.GetProperty("model").GetString());

        // The analytics report's time to first token is the recorded one.
        var report = await client.GetFromJsonAsync<JsonElement>($"/analytics?experiment_id={experiment}");
        var group = Assert.Single(Assert.Single(report.GetProperty("experiments").EnumerateArray()).GetProperty("groups").EnumerateArray());
        Assert.Equal(1, group.GetProperty("time_to_first_token_ms").GetProperty("count").GetInt64());
        Assert.Equal(ttft, group.GetProperty("time_to_first_token_ms").GetProperty("mean").GetDouble());
    }

    [Fact]
    public async Task Closing_the_stream_stops_the_generation_and_records_what_was_sent_as_stopped()
    {
        await using var factory = Gateway(tokenDelayMs: 100);
        var client = factory.CreateClient();
        var sessionId = await client.StartSessionAsync();
        var full = (await client.PostAsync("/query", $$"""{"prompt":"{{Prompt}}"}""")).Body.GetProperty("response").GetString()!;

        var received = new StringBuilder();
        using (var stop = new CancellationTokenSource())
        using (var response = await SendAsync(client, $$"""{"prompt":"{{Prompt}}","session_id":"{{sessionId}}"}"""))
        {
            var stream = await response.Content.ReadAsStreamAsync();
            var tokens = 0;
            await foreach (var item in SseParser.Create(stream).EnumerateAsync(stop.Token))
            {
                received.Append(Parse(item.Data).GetProperty("text").GetString());
                if (++tokens == 3)
                {
                    break; // the user presses stop: the connection closes
                }
            }
        }

        var data = await WaitForModelResponseAsync(client, sessionId);
        Assert.True(data.GetProperty("stopped").GetBoolean());
        var text = data.GetProperty("text").GetString()!;
        Assert.StartsWith(received.ToString(), text);
        Assert.True(text.Length < full.Length, $"a stopped answer ({text.Length} chars) is shorter than the full one ({full.Length})");
        Assert.True(data.GetProperty("tokens").GetInt64() >= 3);
        Assert.True(data.GetProperty("ttft_ms").GetInt64() >= 90);
    }

    [Fact]
    public async Task Refusals_come_before_the_stream_as_problem_json()
    {
        await using var factory = Gateway(tokenDelayMs: 0);
        var client = factory.CreateClient();
        var ended = await client.StartSessionAsync();
        (await client.PostAsync("/session/end", Api.Json($$"""{"session_id":"{{ended}}"}"""))).EnsureSuccessStatusCode();

        foreach (var (body, status) in new[]
                 {
                     ("""{"prompt":""}""", 400),
                     ("""{"prompt":42}""", 400),
                     ("[1,2]", 400),
                     ("""{"prompt":"hi","session_id":"AAAAAAAAAAAAAAAAAAAAAAAA"}""", 404),
                     ("""{"prompt":"hi","session_id":"../../etc"}""", 404),
                     ($$"""{"prompt":"hi","session_id":"{{ended}}"}""", 409),
                 })
        {
            using var response = await SendAsync(client, body);
            Assert.Equal(status, (int)response.StatusCode);
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        }

        var document = await client.GetSessionAsync(ended);
        Assert.Empty(document.GetProperty("events").EnumerateArray());
    }

    [Fact]
    public async Task A_plain_query_to_the_OpenAI_compatible_provider_records_the_tokens_it_bills()
    {
        await using var provider = await FakeOpenAiServer.StartAsync(["Machine ", "learning."], outputTokens: 7);
        await using var factory = Gateway(tokenDelayMs: 0, provider.GatewaySettings());
        var client = factory.CreateClient();
        var sessionId = await client.StartSessionAsync();

        var (status, body, _) = await client.PostAsync("/query", $$"""{"prompt":"{{Prompt}}","session_id":"{{sessionId}}"}""");

        Assert.Equal(200, status);
        Assert.Equal("Machine learning.", body.GetProperty("response").GetString());
        var data = (await client.GetSessionAsync(sessionId)).GetProperty("events")[1].GetProperty("data");
        Assert.Equal((12, 7), (data.GetProperty("input_tokens").GetInt64(), data.GetProperty("output_tokens").GetInt64()));
    }

    [Fact]
    public async Task The_OpenAI_compatible_provider_streams_through_Microsoft_Extensions_AI_with_its_usage_figures()
    {
        await using var provider = await FakeOpenAiServer.StartAsync(["Machine ", "learning ", "is ", "learning ", "from ", "data."], outputTokens: 9);
        await using var factory = Gateway(tokenDelayMs: 0, provider.GatewaySettings());
        var client = factory.CreateClient();
        var sessionId = await client.StartSessionAsync();

        using var response = await SendAsync(client, $$"""{"prompt":"{{Prompt}}","session_id":"{{sessionId}}"}""");
        var events = await ReadAllAsync(response);
        var done = Parse(events[^1].Data);
        Assert.Equal("done", events[^1].EventType);
        Assert.Equal("Machine learning is learning from data.", done.GetProperty("response").GetString());
        Assert.Equal(6, events.Count(e => e.EventType == "token"));
        Assert.Equal(9, done.GetProperty("tokens").GetInt64()); // the provider's usage, not the chunk count

        var request = Assert.Single(provider.Requests);
        Assert.Equal("Bearer test-key", request.Authorization);
        Assert.True(request.Body.GetProperty("stream").GetBoolean());
        Assert.Equal("fake-gpt", request.Body.GetProperty("model").GetString());
        Assert.Contains(request.Body.GetProperty("messages").EnumerateArray(), m => m.GetProperty("content").ToString().Contains(Prompt, StringComparison.Ordinal));

        var data = (await client.GetSessionAsync(sessionId)).GetProperty("events")[1].GetProperty("data");
        Assert.Equal("usage", data.GetProperty("tokens_source").GetString());
        Assert.Equal(9, data.GetProperty("tokens").GetInt64());
        Assert.Equal((12, 9), (data.GetProperty("input_tokens").GetInt64(), data.GetProperty("output_tokens").GetInt64())); // what the provider bills
        Assert.Equal("fake-gpt-2026", data.GetProperty("model").GetString()); // the model id the provider answered with
        Assert.Equal("openai", data.GetProperty("provider").GetString());
    }

    [Theory]
    [InlineData("/query")]
    [InlineData("/query/stream")]
    public async Task A_provider_that_does_not_answer_is_a_503_and_nothing_is_recorded(string path)
    {
        await using var factory = Gateway(tokenDelayMs: 0, new()
        {
            ["Query:Provider"] = "OpenAI",
            ["Query:Endpoint"] = $"http://127.0.0.1:{FreePort.Next()}/v1",
            ["Query:ApiKey"] = "test-key",
        });
        var client = factory.CreateClient();
        var sessionId = await client.StartSessionAsync();

        using var response = await client.SendAsync(
            new HttpRequestMessage(HttpMethod.Post, path) { Content = Api.Json($$"""{"prompt":"hi","session_id":"{{sessionId}}"}""") },
            HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.NotNull(response.Headers.RetryAfter);
        Assert.Empty((await client.GetSessionAsync(sessionId)).GetProperty("events").EnumerateArray());
    }

    private static GatewayHost Gateway(int tokenDelayMs, Dictionary<string, string>? settings = null)
    {
        settings ??= [];
        settings["Query:OfflineTokenDelayMs"] = tokenDelayMs.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return new GatewayHost { Settings = settings };
    }

    private static Task<HttpResponseMessage> SendAsync(HttpClient client, string json) =>
        client.SendAsync(new HttpRequestMessage(HttpMethod.Post, "/query/stream") { Content = Api.Json(json) }, HttpCompletionOption.ResponseHeadersRead);

    private static async Task<List<SseItem<string>>> ReadAllAsync(HttpResponseMessage response)
    {
        var items = new List<SseItem<string>>();
        await foreach (var item in SseParser.Create(await response.Content.ReadAsStreamAsync()).EnumerateAsync())
        {
            items.Add(item);
        }

        return items;
    }

    private static JsonElement Parse(string json) => JsonDocument.Parse(json).RootElement.Clone();

    private static async Task<JsonElement> WaitForModelResponseAsync(HttpClient client, string sessionId)
    {
        for (var attempt = 0; attempt < 100; attempt++)
        {
            var events = (await client.GetSessionAsync(sessionId)).GetProperty("events").EnumerateArray().ToList();
            if (events.FirstOrDefault(e => e.GetProperty("type").GetString() == "model_response") is { ValueKind: JsonValueKind.Object } response)
            {
                return response.GetProperty("data");
            }

            await Task.Delay(100);
        }

        throw new TimeoutException("the stopped answer was never recorded");
    }
}
