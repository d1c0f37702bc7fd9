using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using SessionTracking.TestSupport;

namespace SessionTracking.Contract.Tests;

/// <summary>
/// A realistic run of valid and invalid requests against the running gateway; every real answer (status, media type,
/// body) is checked against the OpenAPI document the gateway serves. Any mismatch fails the test, listing them all.
/// </summary>
[TestCategory("SlowBVT")]
[Collection(ContractCollection.Name)]
public sealed class AnswersMatchTheDocumentTests(ContractGateway gateway)
{
    private const string UnknownSession = "AAAAAAAAAAAAAAAAAAAAAAAA";

    private readonly List<string> _mismatches = [];
    private readonly List<string> _unexpected = [];
    private int _checked;

    [Fact]
    public async Task Every_answer_of_a_realistic_run_conforms_to_the_served_document()
    {
        // Sessions: start (JSON, text/plain, assigned by the split), refusals of malformed bodies.
        var session = Id(await SendAsync("POST", "/session/start", """{"user_id":"u1","model_group":"gpt-4","experiment_id":"exp1","environment":{"browser":"chromium"}}""", expected: 201));
        var beaconSession = Id(await SendAsync("POST", "/session/start", """{"user_id":"u2","model_group":"claude"}""", mediaType: "text/plain", expected: 201));
        await SendAsync("POST", "/session/start", """{"user_id":"u3","experiment_id":"split_test"}""", expected: 201);
        await SendAsync("POST", "/session/start", """{"model_group":"g"}""", expected: 400);
        await SendAsync("POST", "/session/start", """{"user_id":7,"model_group":"g"}""", expected: 400);
        await SendAsync("POST", "/session/start", """{"user_id":"u","model_group":"g","environment":"desktop"}""", expected: 400);
        await SendAsync("POST", "/session/start", """{"user_id":"u",""", expected: 400);
        await SendAsync("POST", "/session/start", "", expected: 400);
        await SendAsync("POST", "/session/start", "[1,2]", expected: 400);
        await SendAsync("POST", "/session/start", """{"user_id":"u","model_group":"g"}""", mediaType: "application/xml", expected: 415);
        await SendAsync("POST", "/session/start", $$"""{"user_id":"{{new string('u', 70_000)}}","model_group":"g"}""", expected: 413);
        await SendAsync("POST", "/session/start", $$"""{"user_id":"{{new string('u', 300)}}","model_group":"g"}""", expected: 400);

        // Events: single, batch, resend, beacon batch with end, and every refusal.
        await SendAsync("POST", "/session/event", $$"""{"session_id":"{{session}}","type":"click","data":{"target":"#send"},"t":1730000000000.7,"id":"e1"}""", expected: 200);
        await SendAsync("POST", "/session/event", $$$"""{"session_id":"{{{session}}}","events":[{"type":"scroll","data":{"y":10},"id":"e2"},{"type":"prompt","data":{"text":"hi"}},{"type":"system","id":"e3"}]}""", expected: 200);
        await SendAsync("POST", "/session/event", $$"""{"session_id":"{{session}}","events":[{"type":"click","id":"e1"},{"type":"copy","id":"e4"}]}""", expected: 200);
        await SendAsync("POST", "/session/event", $$"""{"session_id":"{{session}}","type":"not a type!"}""", expected: 400);
        await SendAsync("POST", "/session/event", $$"""{"session_id":"{{session}}","type":"click","data":[1]}""", expected: 400);
        await SendAsync("POST", "/session/event", $$"""{"session_id":"{{session}}","type":"click","t":"yesterday"}""", expected: 400);
        await SendAsync("POST", "/session/event", $$"""{"session_id":"{{session}}","events":[]}""", expected: 400);
        await SendAsync("POST", "/session/event", $$"""{"session_id":"{{session}}","events":[{{string.Join(',', Enumerable.Repeat("""{"type":"key"}""", 21))}}]}""", expected: 400);
        await SendAsync("POST", "/session/event", $$$"""{"session_id":"{{{session}}}","events":[{"type":"key"},{"type":"custom","data":{"pad":"{{{new string('x', 3000)}}}"}}]}""", expected: 413);
        await SendAsync("POST", "/session/event", """{"type":"click"}""", expected: 400);
        await SendAsync("POST", "/session/event", $$"""{"session_id":"{{UnknownSession}}","type":"click"}""", expected: 404);
        await SendAsync("POST", "/session/event", """{"session_id":"short","type":"click"}""", expected: 404);
        await SendAsync("POST", "/session/event", $$"""{"session_id":"{{beaconSession}}","events":[{"type":"activity","id":"b1"},{"type":"navigate","data":{"to":"/next"},"id":"b2"}],"end":true}""", mediaType: "text/plain", expected: 200);
        await SendAsync("POST", "/session/event", $$"""{"session_id":"{{beaconSession}}","type":"click","id":"b3"}""", expected: 409);
        await SendAsync("POST", "/session/event", $$"""{"session_id":"{{beaconSession}}","events":[{"type":"activity","id":"b1"}]}""", expected: 200);

        // End and read back, with paging and every refusal of the query string.
        await SendAsync("POST", "/session/end", $$"""{"session_id":"{{beaconSession}}"}""", expected: 200);
        await SendAsync("POST", "/session/end", $$"""{"session_id":"{{UnknownSession}}"}""", expected: 404);
        await SendAsync("POST", "/session/end", """{}""", expected: 400);
        await SendAsync("GET", $"/session/{session}", operatorKey: true, expected: 200);
        await SendAsync("GET", $"/session/{session}?after_seq=0&limit=2", operatorKey: true, expected: 200);
        await SendAsync("GET", $"/session/{session}?after_seq=4&limit=2", operatorKey: true, expected: 200);
        await SendAsync("GET", $"/session/{beaconSession}", operatorKey: true, expected: 200);
        foreach (var query in new[] { "limit=abc", "after_seq=1.5", "limit=1e3", "limit=0", "after_seq=-1", "limit=10001" })
        {
            await SendAsync("GET", $"/session/{session}?{query}", operatorKey: true, expected: 400);
        }

        await SendAsync("GET", $"/session/{UnknownSession}", operatorKey: true, expected: 404);
        await SendAsync("GET", "/session/not-an-id", operatorKey: true, expected: 404);
        await SendAsync("GET", $"/session/{session}", expected: 401);
        await SendAsync("GET", $"/session/{session}", operatorKey: true, bearer: true, expected: 200);

        // Queries, streamed and not, and the legacy event log.
        await SendAsync("POST", "/query", $$"""{"prompt":"What is a session?","session_id":"{{session}}"}""", expected: 200);
        await SendAsync("POST", "/query", """{"query":"Alias of prompt","user_id":"u9"}""", expected: 200);
        await SendAsync("POST", "/query", """{"user_id":"u9"}""", expected: 400);
        await SendAsync("POST", "/query", $$"""{"prompt":"late","session_id":"{{beaconSession}}"}""", expected: 409);
        await SendAsync("POST", "/query", $$"""{"prompt":"who","session_id":"{{UnknownSession}}"}""", expected: 404);
        await SendAsync("POST", "/query/stream", $$"""{"prompt":"Stream this answer","session_id":"{{session}}"}""", expected: 200);
        await SendAsync("POST", "/query/stream", """{"prompt":"No session"}""", expected: 200);
        await SendAsync("POST", "/query/stream", $$"""{"prompt":"late","session_id":"{{beaconSession}}"}""", expected: 409);
        await SendAsync("POST", "/query/stream", """{"prompt":""}""", expected: 400);
        await SendAsync("POST", "/log_event", $$$"""{"user_id":"u1","event_type":"feedback","session_id":"{{{session}}}","data":{"feedback":"up"}}""", expected: 200);
        await SendAsync("POST", "/log_event", """{"user_id":"u1","type":"page_view","data":{"path":"/"}}""", expected: 200);
        await SendAsync("POST", "/log_event", """{"user_id":"u1"}""", expected: 400);
        await SendAsync("POST", "/log_event", """{"user_id":"u1","event_type":"bad type"}""", expected: 400);
        await SendAsync("POST", "/log_event", $$"""{"user_id":"u1","event_type":"click","session_id":"{{beaconSession}}"}""", expected: 409);

        // Assignment, health, analytics, exports, privacy.
        await SendAsync("GET", "/experiments/split_test/assignment?user_id=u3", expected: 200);
        await SendAsync("GET", "/experiments/split_test/assignment", expected: 400);
        await SendAsync("GET", "/experiments/unknown/assignment?user_id=u3", expected: 404);
        await SendAsync("GET", "/healthz", expected: 200);
        await SendAsync("GET", "/readyz", expected: 200);
        await SendAsync("GET", "/analytics?experiment_id=exp1", operatorKey: true, expected: 200);
        await SendAsync("GET", "/analytics?experiment_id=split_test&baseline=a", operatorKey: true, expected: 200);
        await SendAsync("GET", "/analytics?from=2024-10-27T00:00:00Z&to=1", operatorKey: true, expected: 400);
        await SendAsync("GET", "/analytics?from=yesterday", operatorKey: true, expected: 400);
        await SendAsync("GET", "/analytics", expected: 401);
        await SendAsync("GET", "/analytics/guide", operatorKey: true, expected: 200);
        await SendAsync("GET", "/analytics/sessions?limit=5", operatorKey: true, expected: 200);
        await SendAsync("GET", "/analytics/sessions?limit=abc", operatorKey: true, expected: 400);
        await SendAsync("GET", "/analytics/plan?metric=up_rate&mde=0.05&baseline_rate=0.3", operatorKey: true, expected: 200);
        await SendAsync("GET", "/analytics/plan?metric=latency_ms&mde=100&baseline_sd=400", operatorKey: true, expected: 200);
        await SendAsync("GET", "/analytics/plan?metric=up_rate&mde=abc", operatorKey: true, expected: 400);
        await SendAsync("GET", "/analytics/plan?metric=nothing&mde=0.1&baseline_rate=0.3", operatorKey: true, expected: 400);
        await SendAsync("GET", "/exports/sessions.jsonl", operatorKey: true, expected: 200);
        await SendAsync("GET", "/exports/sessions.csv?experiment_id=exp1", operatorKey: true, expected: 200);
        await SendAsync("GET", "/exports/events.jsonl", operatorKey: true, expected: 200);
        await SendAsync("GET", "/exports/events.csv", operatorKey: true, expected: 200);
        await SendAsync("GET", "/exports/events.xml", operatorKey: true, expected: 404);
        await SendAsync("GET", "/exports/events.csv", expected: 401);
        await SendAsync("DELETE", "/users/u2", operatorKey: true, expected: 200);
        await SendAsync("DELETE", "/users/u2", expected: 401);
        await SendAsync("GET", "/auth/session", expected: 200);
        await SendAsync("POST", "/auth/signin", """{"key":"not-the-key"}""", expected: 401);
        await SendAsync("POST", "/auth/signin", """{"key":"not-the-key"}""", mediaType: "text/plain", expected: 415);

        Assert.True(_checked >= 75, $"only {_checked} answers were checked");
        Assert.True(_unexpected.Count == 0, "unexpected statuses:\n" + string.Join("\n", _unexpected));
        Assert.True(_mismatches.Count == 0, $"{_mismatches.Count} of {_checked} answers do not match the document:\n" + string.Join("\n", _mismatches));
    }

    [Fact]
    public void The_document_declares_what_clients_need()
    {
        var document = gateway.Contract.Document;
        var paths = document.GetProperty("paths");
        var operations = paths.EnumerateObject().SelectMany(p => p.Value.EnumerateObject().Select(o => (Path: p.Name, Method: o.Name, Operation: o.Value))).ToList();
        Assert.True(operations.Count >= 16, $"{operations.Count} operations");
        foreach (var (path, method, operation) in operations)
        {
            Assert.True(operation.TryGetProperty("operationId", out _), $"{method} {path}: operationId");
            Assert.True(operation.TryGetProperty("summary", out _), $"{method} {path}: summary");
            if (method == "post" && !path.StartsWith("/auth/", StringComparison.Ordinal))
            {
                // The API's bodies come as JSON or as text/plain from beacons (operator sign-in takes JSON only).
                var content = operation.GetProperty("requestBody").GetProperty("content");
                Assert.True(content.TryGetProperty("application/json", out _) && content.TryGetProperty("text/plain", out _), $"{method} {path}: both body media types");
            }

            foreach (var response in operation.GetProperty("responses").EnumerateObject().Where(r => r.Name[0] is '4' || r.Name == "503" && path != "/readyz"))
            {
                Assert.True(response.Value.GetProperty("content").TryGetProperty("application/problem+json", out _), $"{method} {path} {response.Name}: problem+json");
            }
        }

        // Integers are integers, not integer | string.
        var append = document.GetProperty("components").GetProperty("schemas").GetProperty("AppendResponse").GetProperty("properties");
        Assert.Equal("integer", append.GetProperty("last_seq").GetProperty("type").GetString());

        // The query parameters of a page, with their ranges from the configuration.
        var page = paths.GetProperty("/session/{sessionId}").GetProperty("get").GetProperty("parameters").EnumerateArray().ToDictionary(p => p.GetProperty("name").GetString()!);
        Assert.Equal(1, page["limit"].GetProperty("schema").GetProperty("minimum").GetInt32());
        Assert.Equal(10_000, page["limit"].GetProperty("schema").GetProperty("maximum").GetInt32());
        Assert.Equal(0, page["after_seq"].GetProperty("schema").GetProperty("minimum").GetInt32());

        // The planner's numbers with the ranges the gateway checks, and the report's excluded values.
        var plan = paths.GetProperty("/analytics/plan").GetProperty("get").GetProperty("parameters").EnumerateArray().ToDictionary(p => p.GetProperty("name").GetString()!);
        Assert.Equal(1e-10, plan["alpha"].GetProperty("schema").GetProperty("minimum").GetDouble());
        Assert.Equal(0.5, plan["alpha"].GetProperty("schema").GetProperty("exclusiveMaximum").GetDouble());
        Assert.Equal((0.0, 1.0), (plan["power"].GetProperty("schema").GetProperty("exclusiveMinimum").GetDouble(), plan["power"].GetProperty("schema").GetProperty("exclusiveMaximum").GetDouble()));
        Assert.Equal((0.0, 1.0), (plan["baseline_rate"].GetProperty("schema").GetProperty("exclusiveMinimum").GetDouble(), plan["baseline_rate"].GetProperty("schema").GetProperty("exclusiveMaximum").GetDouble()));
        Assert.Equal(0, plan["mde"].GetProperty("schema").GetProperty("exclusiveMinimum").GetDouble());
        Assert.Equal(0, plan["baseline_sd"].GetProperty("schema").GetProperty("exclusiveMinimum").GetDouble());
        var group = document.GetProperty("components").GetProperty("schemas").GetProperty("GroupReport").GetProperty("properties");
        Assert.Equal("integer", group.GetProperty("excluded_values").GetProperty("type").GetString());

        // The configured limits reach the request schemas (this gateway runs with 20 events per batch).
        var appendRequest = document.GetProperty("components").GetProperty("schemas").GetProperty("AppendRequest").GetProperty("properties");
        Assert.Equal(20, appendRequest.GetProperty("events").GetProperty("maxItems").GetInt32());

        // The stream's events, the exports' media types, the operator key.
        var stream = paths.GetProperty("/query/stream").GetProperty("post").GetProperty("responses").GetProperty("200").GetProperty("content").GetProperty("text/event-stream");
        var events = stream.GetProperty("schema").GetProperty("items").GetProperty("oneOf").EnumerateArray()
            .Select(e => e.GetProperty("properties").GetProperty("event").GetProperty("const").GetString()).ToList();
        Assert.Equal(["token", "done", "error"], events);

        // The model budgets' 429 (before the model is called) says when to retry, on both query operations.
        foreach (var queryPath in new[] { "/query", "/query/stream" })
        {
            var tooMany = paths.GetProperty(queryPath).GetProperty("post").GetProperty("responses").GetProperty("429");
            Assert.Contains("Query:Budgets", tooMany.GetProperty("description").GetString());
            Assert.Equal("integer", tooMany.GetProperty("headers").GetProperty("Retry-After").GetProperty("schema").GetProperty("type").GetString());
        }

        var export = paths.GetProperty("/exports/events.{format}").GetProperty("get");
        var exportTypes = export.GetProperty("responses").GetProperty("200").GetProperty("content").EnumerateObject().Select(c => c.Name).ToList();
        Assert.Equal(["application/x-ndjson", "text/csv"], exportTypes);
        Assert.Contains(export.GetProperty("security").EnumerateArray(), r => r.TryGetProperty("operatorKey", out _));
        Assert.Equal("X-Api-Key", document.GetProperty("components").GetProperty("securitySchemes").GetProperty("operatorKey").GetProperty("name").GetString());
        var exportParameters = export.GetProperty("parameters").EnumerateArray().Select(p => p.GetProperty("name").GetString()).ToList();
        Assert.Superset(new HashSet<string?> { "format", "experiment_id", "model_group", "from", "to" }, exportParameters.ToHashSet());
    }

    private static string Id(JsonElement body) => body.GetProperty("session_id").GetString()!;

    private async Task<JsonElement> SendAsync(
        string method, string path, string? body = null, string mediaType = "application/json", bool operatorKey = false, bool bearer = false, int expected = 200)
    {
        using var request = new HttpRequestMessage(new HttpMethod(method), path);
        if (body is not null)
        {
            request.Content = new StringContent(body, Encoding.UTF8);
            request.Content.Headers.ContentType = new MediaTypeHeaderValue(mediaType) { CharSet = "utf-8" };
        }

        if (operatorKey && bearer)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", ContractGateway.OperatorKey);
        }
        else if (operatorKey)
        {
            request.Headers.Add("X-Api-Key", ContractGateway.OperatorKey);
        }

        using var response = await gateway.Client.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        var status = (int)response.StatusCode;
        _checked++;
        if (status != expected)
        {
            _unexpected.Add($"{method} {path}: {status}, expected {expected}: {(text.Length > 300 ? text[..300] : text)}");
        }

        _mismatches.AddRange(gateway.Contract.Check(method, path, status, response.Content.Headers.ContentType?.ToString(), text));
        return response.Content.Headers.ContentType?.MediaType is "application/json" or "application/problem+json" && text.Length > 0
            ? JsonDocument.Parse(text).RootElement.Clone()
            : default;
    }
}
