using System.Net.Http.Json;
using System.Text.Json;
using SessionTracking.TestSupport;

namespace SessionTracking.Gateway.Tests;

[TestCategory("BVT")]
[Collection(GatewayCollection.Name)]
public sealed class SessionApiTests(SmallLimitsGateway gateway)
{
    private readonly HttpClient _client = gateway.CreateClient();

    [Fact]
    public async Task Start_issues_an_unguessable_id_and_answers_201_with_the_session()
    {
        using var response = await _client.PostAsync("/session/start", Api.Json("""
            {"user_id":"u1","model_group":"gpt-4","experiment_id":"exp_v1",
             "environment":{"device":"desktop","browser":"Chrome","viewport":{"width":1920,"height":1080}}}
            """));
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        var id = body.GetProperty("session_id").GetString()!;
        var other = await _client.StartSessionAsync();

        Assert.Equal(201, (int)response.StatusCode);
        Assert.Equal($"/session/{id}", response.Headers.Location?.ToString());
        Assert.Matches("^[A-Za-z0-9_-]{24}$", id);
        Assert.NotEqual(id, other);
        Assert.Equal("exp_v1", body.GetProperty("experiment_id").GetString());
        var document = await _client.GetSessionAsync(id);
        Assert.Equal(1920, document.GetProperty("environment").GetProperty("viewport").GetProperty("width").GetInt32());
        Assert.Equal(JsonValueKind.Null, document.GetProperty("end_time").ValueKind);
        Assert.Matches(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", document.GetProperty("start_time").GetString());
    }

    [Fact]
    public async Task Experiment_defaults_to_default()
    {
        var id = await _client.StartSessionAsync();

        var document = await _client.GetSessionAsync(id);

        Assert.Equal("default", document.GetProperty("experiment_id").GetString());
        Assert.Equal(JsonValueKind.Object, document.GetProperty("environment").ValueKind);
    }

    [Theory]
    [InlineData("""{"model_group":"g"}""", "user_id")]
    [InlineData("""{"user_id":"u"}""", "model_group")]
    [InlineData("""{"user_id":"u","model_group":7}""", "model_group")]
    [InlineData("""{"user_id":"","model_group":"g"}""", "user_id")]
    [InlineData("""{"user_id":"u","model_group":"g","environment":"desktop"}""", "environment")]
    [InlineData("""{"user_id":"u","model_group":"g","experiment_id":["x"]}""", "experiment_id")]
    public async Task Start_with_missing_or_mistyped_fields_is_a_400_naming_the_field(string body, string field)
    {
        var (status, problem, mediaType) = await _client.PostAsync("/session/start", body);

        Assert.Equal(400, status);
        Assert.Equal("application/problem+json", mediaType);
        Assert.Contains(field, problem.GetProperty("detail").GetString());
    }

    [Fact]
    public async Task Single_events_and_batches_are_stored_in_arrival_order_with_the_guide_fields()
    {
        var id = await _client.StartSessionAsync();

        var single = await _client.PostAsync("/session/event", $$"""{"session_id":"{{id}}","type":"prompt","data":{"text":"hi"},"t":1730000000000}""");
        var batch = await _client.PostAsync("/session/event", $$$"""
            {"session_id":"{{{id}}}","events":[
              {"type":"click","data":{"target":"BUTTON","x":150,"y":300}},
              {"type":"system","data":{"visible_time_ms":12}},
              {"type":"scroll"}]}
            """);
        var document = await _client.GetSessionAsync(id);
        var events = document.GetProperty("events").EnumerateArray().ToArray();

        Assert.Equal((200, 1), (single.Status, single.Body.GetProperty("accepted").GetInt32()));
        Assert.Equal((200, 3, 4L), (batch.Status, batch.Body.GetProperty("accepted").GetInt32(), batch.Body.GetProperty("last_seq").GetInt64()));
        Assert.Equal(["prompt", "click", "system", "scroll"], events.Select(e => e.GetProperty("type").GetString()));
        Assert.Equal(1730000000000, events[0].GetProperty("t").GetInt64());
        Assert.Equal("hi", events[0].GetProperty("data").GetProperty("text").GetString());
        Assert.Equal(150, events[1].GetProperty("data").GetProperty("x").GetInt32());
        Assert.Equal(JsonValueKind.Object, events[3].GetProperty("data").ValueKind);
        // Without t, the server's receive time is the event time.
        var serverTime = events[1].GetProperty("t").GetInt64();
        Assert.InRange(serverTime, DateTimeOffset.UtcNow.AddMinutes(-1).ToUnixTimeMilliseconds(), DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        Assert.Equal(serverTime, events[1].GetProperty("received_at").GetInt64());
        Assert.Equal(4, document.GetProperty("event_count").GetInt64());
    }

    [Fact]
    public async Task Text_plain_bodies_are_accepted_as_beacons_send_them()
    {
        var id = await _client.StartSessionAsync();

        var result = await _client.PostAsync("/session/event", $$"""{"session_id":"{{id}}","events":[{"type":"copy","data":{"selected_text":"x"},"id":"b1"}],"end":true}""", "text/plain");
        var document = await _client.GetSessionAsync(id);

        Assert.Equal(200, result.Status);
        Assert.True(result.Body.GetProperty("ended").GetBoolean());
        Assert.Single(document.GetProperty("events").EnumerateArray());
        Assert.NotEqual(JsonValueKind.Null, document.GetProperty("end_time").ValueKind);
    }

    [Fact]
    public async Task Resent_ids_are_acknowledged_but_never_stored_twice()
    {
        var id = await _client.StartSessionAsync();
        var batch = $$"""{"session_id":"{{id}}","events":[{"type":"click","id":"e1"},{"type":"click","id":"e2"},{"type":"click","id":"e2"}]}""";

        var first = await _client.PostAsync("/session/event", batch);
        var retry = await _client.PostAsync("/session/event", batch);
        var document = await _client.GetSessionAsync(id);

        Assert.Equal((2, 1), (first.Body.GetProperty("accepted").GetInt32(), first.Body.GetProperty("duplicates").GetInt32()));
        Assert.Equal((0, 3), (retry.Body.GetProperty("accepted").GetInt32(), retry.Body.GetProperty("duplicates").GetInt32()));
        Assert.Equal(["e1", "e2"], document.GetProperty("events").EnumerateArray().Select(e => e.GetProperty("id").GetString()));
    }

    [Fact]
    public async Task End_is_idempotent_and_events_after_it_are_a_409()
    {
        var id = await _client.StartSessionAsync();
        await _client.PostAsync("/session/event", $$"""{"session_id":"{{id}}","type":"click","id":"k"}""");

        var end1 = await _client.PostAsync("/session/end", $$"""{"session_id":"{{id}}"}""");
        var end2 = await _client.PostAsync("/session/end", $$"""{"session_id":"{{id}}"}""");
        var late = await _client.PostAsync("/session/event", $$"""{"session_id":"{{id}}","type":"click","id":"late"}""");
        var resend = await _client.PostAsync("/session/event", $$"""{"session_id":"{{id}}","type":"click","id":"k"}""");
        var document = await _client.GetSessionAsync(id);

        Assert.Equal(200, end1.Status);
        Assert.Equal(200, end2.Status);
        Assert.Equal(end1.Body.GetProperty("end_time").GetString(), end2.Body.GetProperty("end_time").GetString());
        Assert.Equal(end1.Body.GetProperty("end_time").GetString(), document.GetProperty("end_time").GetString());
        Assert.Equal((409, "application/problem+json"), (late.Status, late.MediaType));
        Assert.Equal(200, resend.Status);
        Assert.Single(document.GetProperty("events").EnumerateArray());
    }

    [Fact]
    public async Task Long_sessions_page_with_after_seq_and_limit()
    {
        var id = await _client.StartSessionAsync();
        for (var i = 0; i < 3; i++)
        {
            var events = string.Join(',', Enumerable.Range(0, 10).Select(j => $$$"""{"type":"scroll","data":{"scrollY":{{{i * 10 + j}}}}}"""));
            await _client.PostAsync("/session/event", $$"""{"session_id":"{{id}}","events":[{{events}}]}""");
        }

        var first = await _client.GetSessionAsync(id, "?limit=12");
        var second = await _client.GetSessionAsync(id, $"?after_seq={first.GetProperty("next_after_seq").GetInt64()}&limit=12");
        var last = await _client.GetSessionAsync(id, $"?after_seq={second.GetProperty("next_after_seq").GetInt64()}&limit=12");

        Assert.Equal(12, first.GetProperty("next_after_seq").GetInt64());
        Assert.Equal(13, second.GetProperty("events")[0].GetProperty("seq").GetInt64());
        Assert.Equal(6, last.GetProperty("events").GetArrayLength());
        Assert.Equal(JsonValueKind.Null, last.GetProperty("next_after_seq").ValueKind);
        Assert.Equal(29, last.GetProperty("events")[5].GetProperty("data").GetProperty("scrollY").GetInt32());
        Assert.Equal(30, last.GetProperty("event_count").GetInt64());
    }

    [Theory]
    [InlineData("?limit=0", "limit")]
    [InlineData("?after_seq=-1", "after_seq")]
    [InlineData("?limit=100001", "limit")]
    [InlineData("?limit=abc", "abc")]
    [InlineData("?after_seq=1.5", "1.5")]
    [InlineData("?limit=1e3", "1e3")]
    public async Task Bad_paging_parameters_are_a_400_problem_naming_the_value(string query, string named)
    {
        var id = await _client.StartSessionAsync();

        using var response = await _client.GetAsync($"/session/{id}{query}");

        Assert.Equal(400, (int)response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal(400, problem.GetProperty("status").GetInt32());
        Assert.Contains(named, problem.GetProperty("detail").GetString());
    }

    [Theory]
    [InlineData("/tracker.js", "text/javascript", "SessionTracker")]
    [InlineData("/tracker.mjs", "text/javascript", "SessionTracker")]
    [InlineData("/tracker.d.ts", "text/plain", "SessionTracker")]
    [InlineData("/tracker.d.mts", "text/plain", "SessionTracker")]
    [InlineData("/react/index.d.mts", "text/plain", "useSession")]
    public async Task The_tracker_and_its_declarations_are_served_as_text(string path, string mediaType, string content)
    {
        using var response = await _client.GetAsync(path);

        Assert.Equal(200, (int)response.StatusCode);
        Assert.Equal(mediaType, response.Content.Headers.ContentType?.MediaType);
        Assert.Contains(content, await response.Content.ReadAsStringAsync());
    }

    [Theory]
    [InlineData("GET", "/no/such/path", 404)]
    [InlineData("DELETE", "/session/start", 405)]
    public async Task Unknown_paths_and_methods_answer_a_problem_too(string method, string path, int expected)
    {
        using var response = await _client.SendAsync(new HttpRequestMessage(new HttpMethod(method), path));

        Assert.Equal(expected, (int)response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(expected, JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("status").GetInt32());
    }

    [Fact]
    public async Task Unknown_forged_and_malformed_session_ids_are_a_404_everywhere()
    {
        var unknown = "AAAAAAAAAAAAAAAAAAAAAAAA";
        var malformed = "../../etc/passwd";
        foreach (var id in new[] { unknown, malformed, "short" })
        {
            Assert.Equal(404, (await _client.PostAsync("/session/event", $$"""{"session_id":"{{id}}","type":"click"}""")).Status);
            Assert.Equal(404, (await _client.PostAsync("/session/end", $$"""{"session_id":"{{id}}"}""")).Status);
            Assert.Equal(404, (await _client.PostAsync("/log_event", $$"""{"session_id":"{{id}}","user_id":"u","event_type":"click"}""")).Status);
            Assert.Equal(404, (await _client.PostAsync("/query", $$"""{"session_id":"{{id}}","prompt":"hi"}""")).Status);
        }

        using var get = await _client.GetAsync($"/session/{unknown}");
        Assert.Equal(404, (int)get.StatusCode);
        Assert.Equal("application/problem+json", get.Content.Headers.ContentType?.MediaType);
    }

    [Theory]
    [InlineData("{bad json", 400)]
    [InlineData("[1,2]", 400)]
    [InlineData("", 400)]
    [InlineData("""{"session_id":12,"type":"click"}""", 400)]
    [InlineData("""{"session_id":"SESSION","type":"click","data":[1]}""", 400)]
    [InlineData("""{"session_id":"SESSION","type":"click","data":"text"}""", 400)]
    [InlineData("""{"session_id":"SESSION","type":"has space"}""", 400)]
    [InlineData("""{"session_id":"SESSION","type":""}""", 400)]
    [InlineData("""{"session_id":"SESSION","type":"click","t":"yesterday"}""", 400)]
    [InlineData("""{"session_id":"SESSION","type":"click","t":-5}""", 400)]
    [InlineData("""{"session_id":"SESSION","type":"click","id":7}""", 400)]
    [InlineData("""{"session_id":"SESSION","events":{"type":"click"}}""", 400)]
    [InlineData("""{"session_id":"SESSION","events":[]}""", 400)]
    [InlineData("""{"session_id":"SESSION","events":[42]}""", 400)]
    [InlineData("""{"session_id":"SESSION","events":[{"type":"click"}],"end":"yes"}""", 400)]
    [InlineData("""{"session_id":"SESSION"}""", 400)]
    [InlineData("""{"session_id":"SESSION","type":"\ud800"}""", 400)]
    [InlineData("""{"session_id":"\udc00","type":"click"}""", 400)]
    public async Task Malformed_event_bodies_are_a_400_and_store_nothing(string template, int expected)
    {
        var id = await _client.StartSessionAsync();

        var (status, problem, mediaType) = await _client.PostAsync("/session/event", template.Replace("SESSION", id, StringComparison.Ordinal));
        var document = await _client.GetSessionAsync(id);

        Assert.Equal(expected, status);
        Assert.Equal("application/problem+json", mediaType);
        Assert.False(string.IsNullOrEmpty(problem.GetProperty("detail").GetString()));
        Assert.Equal(0, document.GetProperty("events").GetArrayLength());
    }

    [Fact]
    public async Task Deeply_nested_json_is_a_400()
    {
        var id = await _client.StartSessionAsync();
        var nested = new string('[', 100) + new string(']', 100);

        var (status, _, _) = await _client.PostAsync("/session/event", $$$"""{"session_id":"{{{id}}}","type":"click","data":{"deep":{{{nested}}}}}""");

        Assert.Equal(400, status);
    }

    [Fact]
    public async Task Limits_answer_400_or_413_saying_which()
    {
        var id = await _client.StartSessionAsync();
        var tooMany = string.Join(',', Enumerable.Repeat("""{"type":"click"}""", 51));
        var bigData = new string('x', 5000);
        var hugeBody = new string('y', 70_000);

        var batch = await _client.PostAsync("/session/event", $$"""{"session_id":"{{id}}","events":[{{tooMany}}]}""");
        var eventTooBig = await _client.PostAsync("/session/event", $$$"""{"session_id":"{{{id}}}","events":[{"type":"click"},{"type":"copy","data":{"selected_text":"{{{bigData}}}"}}]}""");
        var bodyTooBig = await _client.PostAsync("/session/event", $$$"""{"session_id":"{{{id}}}","type":"click","data":{"x":"{{{hugeBody}}}"}}""");

        Assert.Equal(400, batch.Status);
        Assert.Contains("at most 50", batch.Body.GetProperty("detail").GetString());
        Assert.Equal(413, eventTooBig.Status);
        Assert.Contains("events[1]", eventTooBig.Body.GetProperty("detail").GetString());
        Assert.Equal(413, bodyTooBig.Status);
        Assert.Contains("65536", bodyTooBig.Body.GetProperty("detail").GetString());
        Assert.Equal(0, (await _client.GetSessionAsync(id)).GetProperty("events").GetArrayLength());
    }

    [Fact]
    public async Task Other_media_types_are_a_415()
    {
        var id = await _client.StartSessionAsync();

        var (status, _, mediaType) = await _client.PostAsync("/session/event", $$"""{"session_id":"{{id}}","type":"click"}""", "application/xml");

        Assert.Equal((415, "application/problem+json"), (status, mediaType));
    }

    [Fact]
    public async Task Health_and_readiness_answer_200()
    {
        using var health = await _client.GetAsync("/healthz");
        using var ready = await _client.GetAsync("/readyz");

        Assert.Equal(200, (int)health.StatusCode);
        Assert.Equal(200, (int)ready.StatusCode);
    }
}
