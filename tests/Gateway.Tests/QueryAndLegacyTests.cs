using Microsoft.Data.Sqlite;
using SessionTracking.TestSupport;

namespace SessionTracking.Gateway.Tests;

[TestCategory("BVT")]
[Collection(GatewayCollection.Name)]
public sealed class QueryAndLegacyTests(SmallLimitsGateway gateway)
{
    private readonly HttpClient _client = gateway.CreateClient();

    [Fact]
    public async Task Query_answers_like_the_earlier_system_and_logs_the_exchange_into_the_session_and_queries()
    {
        var id = await _client.StartSessionAsync(userId: "q-user", modelGroup: "gpt-4");

        var (status, body, _) = await _client.PostAsync("/query", $$"""{"prompt":"What is machine learning?","session_id":"{{id}}"}""");
        var events = (await _client.GetSessionAsync(id)).GetProperty("events").EnumerateArray().ToArray();

        Assert.Equal(200, status);
        var response = body.GetProperty("response").GetString()!;
        Assert.Contains("What is machine learning?", response);
        Assert.Equal("offline", body.GetProperty("provider").GetString());
        Assert.True(body.GetProperty("latency_ms").GetInt64() >= 0);
        Assert.Equal(0, body.GetProperty("citations").GetArrayLength());
        Assert.Equal(["prompt", "model_response"], events.Select(e => e.GetProperty("type").GetString()));
        Assert.Equal("What is machine learning?", events[0].GetProperty("data").GetProperty("text").GetString());
        var data = events[1].GetProperty("data");
        Assert.Equal(response, data.GetProperty("text").GetString());
        Assert.Equal(body.GetProperty("model").GetString(), data.GetProperty("model").GetString());
        Assert.Equal(response.Length, data.GetProperty("response_length").GetInt32());
        Assert.Equal(body.GetProperty("latency_ms").GetInt64(), data.GetProperty("latency_ms").GetInt64());
        Assert.Equal("q-user|gpt-4|What is machine learning?", await ScalarAsync($"SELECT user_id || '|' || model_group || '|' || query FROM queries WHERE session_id = '{id}'"));
    }

    [Theory]
    [InlineData("/query", """{"user_id":"anon"}""", "'prompt' (or its alias 'query') is required")]
    [InlineData("/query", """{"query":"  "}""", "'prompt' (or its alias 'query') is required")]
    [InlineData("/query", """{"prompt":""}""", "'prompt' is required")]
    [InlineData("/query", """{"query":7}""", "'query' must be a string")]
    [InlineData("/log_event", """{"user_id":"anon"}""", "'event_type' (or its alias 'type') is required")]
    [InlineData("/log_event", """{"user_id":"anon","type":""}""", "'event_type' (or its alias 'type') is required")]
    [InlineData("/log_event", """{"user_id":"anon","event_type":""}""", "'event_type' is required")]
    [InlineData("/log_event", """{"user_id":"anon","type":true}""", "'type' must be a string")]
    public async Task A_missing_field_with_an_alias_is_named_by_both_names(string path, string body, string detail)
    {
        var (status, problem, mediaType) = await _client.PostAsync(path, body);

        Assert.Equal((400, "application/problem+json"), (status, mediaType));
        Assert.StartsWith(detail, problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_offline_model_is_deterministic_and_query_is_an_alias_of_prompt()
    {
        var a = await _client.PostAsync("/query", """{"query":"same question","user_id":"anon"}""");
        var b = await _client.PostAsync("/query", """{"prompt":"same question"}""");

        Assert.Equal(200, a.Status);
        Assert.Equal(a.Body.GetProperty("response").GetString(), b.Body.GetProperty("response").GetString());
        Assert.Equal(2L, await ScalarAsync("SELECT COUNT(*) FROM queries WHERE query = 'same question' AND session_id IS NULL"));
    }

    [Theory]
    [InlineData("""{}""")]
    [InlineData("""{"prompt":""}""")]
    [InlineData("""{"prompt":5}""")]
    [InlineData("""{"query":null}""")]
    [InlineData("""{"prompt":"x","session_id":4}""")]
    public async Task Query_without_a_usable_prompt_is_a_400(string body)
    {
        var (status, _, mediaType) = await _client.PostAsync("/query", body);

        Assert.Equal((400, "application/problem+json"), (status, mediaType));
    }

    [Fact]
    public async Task Query_on_an_ended_session_is_a_409()
    {
        var id = await _client.StartSessionAsync();
        await _client.PostAsync("/session/end", $$"""{"session_id":"{{id}}"}""");

        var (status, _, _) = await _client.PostAsync("/query", $$"""{"prompt":"late","session_id":"{{id}}"}""");

        Assert.Equal(409, status);
    }

    [Fact]
    public async Task Log_event_writes_the_legacy_row_and_the_session_event_when_one_is_named()
    {
        var id = await _client.StartSessionAsync(userId: "legacy");

        var named = await _client.PostAsync("/log_event", $$$"""{"user_id":"legacy","session_id":"{{{id}}}","event_type":"feedback","data":{"feedback":"up"}}""");
        var alias = await _client.PostAsync("/log_event", """{"user_id":"legacy-anon","type":"click"}""", "text/plain");
        var events = (await _client.GetSessionAsync(id)).GetProperty("events").EnumerateArray().ToArray();

        Assert.Equal(200, named.Status);
        Assert.Equal(200, alias.Status);
        Assert.Equal("up", Assert.Single(events).GetProperty("data").GetProperty("feedback").GetString());
        Assert.Equal("feedback|{\"feedback\":\"up\"}", await ScalarAsync($"SELECT event_type || '|' || data FROM events WHERE session_id = '{id}'"));
        Assert.Equal("click|{}", await ScalarAsync("SELECT event_type || '|' || data FROM events WHERE user_id = 'legacy-anon'"));
    }

    [Theory]
    [InlineData("""{"event_type":"click"}""")]
    [InlineData("""{"user_id":"u"}""")]
    [InlineData("""{"user_id":"u","event_type":"click","data":[]}""")]
    [InlineData("""{"user_id":"u","event_type":"bad type!"}""")]
    public async Task Log_event_with_bad_fields_is_a_400(string body)
    {
        var (status, _, _) = await _client.PostAsync("/log_event", body);

        Assert.Equal(400, status);
    }

    private async Task<object?> ScalarAsync(string sql)
    {
        await using var db = new SqliteConnection($"Data Source={gateway.DatabasePath};Mode=ReadOnly;Pooling=False");
        await db.OpenAsync();
        await using var command = db.CreateCommand();
        command.CommandText = sql;
        return await command.ExecuteScalarAsync();
    }
}
