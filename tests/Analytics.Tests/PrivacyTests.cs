using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Microsoft.Data.Sqlite;
using SessionTracking.TestSupport;

namespace SessionTracking.Analytics.Tests;

[TestCategory("BVT")]
public sealed class PrivacyTests
{
    [Fact]
    public async Task Delete_user_removes_sessions_events_queries_and_legacy_events_of_that_user_only()
    {
        await using var factory = new GatewayHost();
        using var client = factory.CreateClient();

        var doomed = await StartAsync(client, "doomed-user");
        var kept = await StartAsync(client, "kept-user");
        foreach (var session in new[] { doomed, kept })
        {
            await PostAsync(client, "/session/event", $$$"""{"session_id":"{{{session}}}","events":[{"type":"prompt","data":{"text":"a"}},{"type":"feedback","data":{"feedback":"up"}}]}""");
            await PostAsync(client, "/query", $$"""{"prompt":"hello","session_id":"{{session}}"}""");
        }

        // Rows that name the user but no session, and rows that name only the user's session.
        await PostAsync(client, "/query", """{"prompt":"no session","user_id":"doomed-user"}""");
        await PostAsync(client, "/log_event", """{"user_id":"doomed-user","event_type":"click","data":{"x":1}}""");
        await PostAsync(client, "/log_event", $$"""{"user_id":"doomed-user","session_id":"{{doomed}}","event_type":"click"}""");
        await PostAsync(client, "/log_event", """{"user_id":"kept-user","event_type":"click"}""");
        await PostAsync(client, "/session/end", $$"""{"session_id":"{{doomed}}"}""");

        var before = Count(factory.DatabasePath, "doomed-user", doomed);
        Assert.True(before.Values.All(v => v > 0), string.Join(", ", before));
        var keptBefore = Count(factory.DatabasePath, "kept-user", kept);

        using var response = await client.DeleteAsync("/users/doomed-user");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var deletion = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(before["sessions"], deletion.GetProperty("sessions").GetInt64());
        Assert.Equal(before["session_events"], deletion.GetProperty("session_events").GetInt64());
        Assert.Equal(before["queries"], deletion.GetProperty("queries").GetInt64());
        Assert.Equal(before["events"], deletion.GetProperty("events").GetInt64());

        Assert.All(Count(factory.DatabasePath, "doomed-user", doomed).Values, v => Assert.Equal(0, v));
        Assert.Equal(keptBefore, Count(factory.DatabasePath, "kept-user", kept));

        // Deleting again finds nothing: an idempotent 200 with zero counts.
        var again = await (await client.DeleteAsync("/users/doomed-user")).Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(0, again.GetProperty("session_events").GetInt64());
    }

    [Theory]
    [InlineData("Acked")]
    [InlineData("Buffered")]
    public async Task Live_sessions_of_a_deleted_user_are_forgotten_and_write_nothing_afterwards(string durability)
    {
        // Buffered with a 1 s flush timer: at deletion the grain holds events the store does not have yet.
        await using var factory = new GatewayHost
        {
            Settings = new Dictionary<string, string> { ["Sessions:Durability"] = durability, ["Sessions:FlushInterval"] = "00:00:01" },
        };
        using var client = factory.CreateClient();
        var live = await StartAsync(client, "live-user");
        await PostAsync(client, "/session/event", $$$"""{"session_id":"{{{live}}}","events":[{"type":"click","data":{},"id":"a"}]}""");
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync($"/session/{live}")).StatusCode); // active, with metadata in memory
        await PostAsync(client, "/session/event", $$$"""{"session_id":"{{{live}}}","events":[{"type":"click","data":{},"id":"b"}]}""");

        using var response = await client.DeleteAsync("/users/live-user");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);

        // The activation is still in memory, and answers as for a session that never existed.
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync($"/session/{live}")).StatusCode);
        using var late = await client.PostAsync("/session/event", new StringContent($$$"""{"session_id":"{{{live}}}","events":[{"type":"click","data":{},"id":"c"}]}""", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.NotFound, late.StatusCode);
        using var end = await client.PostAsync("/session/end", new StringContent($$"""{"session_id":"{{live}}"}""", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.NotFound, end.StatusCode);

        // Past the buffered flush interval, nothing of the session reached the store again.
        await Task.Delay(TimeSpan.FromSeconds(2.5));
        Assert.All(Count(factory.DatabasePath, "live-user", live).Values, v => Assert.Equal(0, v));
    }

    [Fact]
    public async Task Operator_endpoints_need_the_key_when_one_is_configured()
    {
        await using var factory = new GatewayHost { Settings = new Dictionary<string, string> { ["Security:OperatorApiKey"] = "s3cret-operator-key" } };
        using var client = factory.CreateClient();
        foreach (var (method, path) in new[] { (HttpMethod.Get, "/analytics"), (HttpMethod.Get, "/analytics/guide"), (HttpMethod.Get, "/analytics/sessions"), (HttpMethod.Get, "/exports/events.jsonl"), (HttpMethod.Delete, "/users/u1") })
        {
            using var anonymous = await client.SendAsync(new HttpRequestMessage(method, path));
            Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
            var withKey = new HttpRequestMessage(method, path);
            withKey.Headers.Add("X-Api-Key", "s3cret-operator-key");
            using var authorized = await client.SendAsync(withKey);
            Assert.Equal(HttpStatusCode.OK, authorized.StatusCode);
        }
    }

    private static Dictionary<string, long> Count(string databasePath, string userId, string sessionId)
    {
        using var connection = new SqliteConnection($"Data Source={databasePath};Mode=ReadOnly;Pooling=False");
        connection.Open();
        return new Dictionary<string, long>
        {
            ["sessions"] = Scalar("SELECT COUNT(*) FROM sessions WHERE user_id = $u"),
            ["session_events"] = Scalar("SELECT COALESCE(SUM(last_seq - first_seq + 1), 0) FROM event_chunks WHERE session_id = $s"),
            ["queries"] = Scalar("SELECT COUNT(*) FROM queries WHERE user_id = $u OR session_id = $s"),
            ["events"] = Scalar("SELECT COUNT(*) FROM events WHERE user_id = $u OR session_id = $s"),
        };

        long Scalar(string sql)
        {
            using var command = connection.CreateCommand();
            command.CommandText = sql;
            command.Parameters.AddWithValue("$u", userId);
            command.Parameters.AddWithValue("$s", sessionId);
            return (long)command.ExecuteScalar()!;
        }
    }

    private static async Task<string> StartAsync(HttpClient client, string userId)
    {
        var body = await PostAsync(client, "/session/start", $$"""{"user_id":"{{userId}}","model_group":"gpt-4","experiment_id":"privacy"}""");
        return body.GetProperty("session_id").GetString()!;
    }

    private static async Task<JsonElement> PostAsync(HttpClient client, string path, string json)
    {
        using var response = await client.PostAsync(path, new StringContent(json, Encoding.UTF8, "application/json"));
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"{path}: {(int)response.StatusCode} {text}");
        return JsonDocument.Parse(text).RootElement.Clone();
    }
}
