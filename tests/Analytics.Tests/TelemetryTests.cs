using System.Net;
using System.Text;
using System.Text.Json;
using SessionTracking.TestSupport;

namespace SessionTracking.Analytics.Tests;

[TestCategory("BVT")]
public sealed class TelemetryTests
{
    [Fact]
    public async Task Prometheus_endpoint_exports_the_service_and_Orleans_meters()
    {
        await using var factory = new GatewayHost();
        using var client = factory.CreateClient();
        using var start = await client.PostAsync("/session/start", Json("""{"user_id":"metrics-user","model_group":"g"}"""));
        var sessionId = JsonDocument.Parse(await start.Content.ReadAsStringAsync()).RootElement.GetProperty("session_id").GetString();
        // Two events with the same id: one accepted, one duplicate. Then end, and one more: refused as ended.
        using var batch = await client.PostAsync("/session/event", Json($$$"""{"session_id":"{{{sessionId}}}","events":[{"type":"click","data":{},"id":"a"},{"type":"click","data":{},"id":"a"}],"end":true}"""));
        Assert.Equal(HttpStatusCode.OK, batch.StatusCode);
        using var late = await client.PostAsync("/session/event", Json($$$"""{"session_id":"{{{sessionId}}}","type":"click","data":{}}"""));
        Assert.Equal(HttpStatusCode.Conflict, late.StatusCode);

        // The exporter collects on scrape; its cache may hold the previous scrape briefly, so poll.
        string metrics = "";
        for (var attempt = 0; attempt < 20 && !metrics.Contains("reason=\"session_ended\"", StringComparison.Ordinal); attempt++)
        {
            await Task.Delay(attempt == 0 ? 0 : 500);
            metrics = await client.GetStringAsync("/metrics");
        }

        // The meter is static: other tests' silos in this process may add to the counts, hence "at least one".
        Assert.Matches("sessiontracking_events_accepted_total\\{otel_scope_name=\"SessionTracking\"\\} [1-9]", metrics);
        Assert.Matches("sessiontracking_events_rejected_total\\{otel_scope_name=\"SessionTracking\",reason=\"duplicate\"\\} [1-9]", metrics);
        Assert.Matches("sessiontracking_events_rejected_total\\{otel_scope_name=\"SessionTracking\",reason=\"session_ended\"\\} [1-9]", metrics);
        Assert.Contains("sessiontracking_flush_duration_seconds_count", metrics);
        Assert.Contains("sessiontracking_flush_duration_seconds_bucket{otel_scope_name=\"SessionTracking\",le=\"5E-05\"}", metrics); // sub-millisecond buckets
        Assert.Contains("sessiontracking_sessions_active", metrics);
        Assert.Contains("orleans_", metrics);
        Assert.Contains("http_server_request_duration_seconds", metrics);
        Assert.DoesNotContain("aspnetcore_memory_pool", metrics); // recorded per buffer rented: left out (TelemetryServices)
        Assert.Contains("dotnet_gc_collections_total", metrics); // the runtime's meter: GC, heap, thread pool
    }

    [Fact]
    public async Task Traces_metrics_and_logs_are_pushed_over_OTLP_when_an_endpoint_is_configured()
    {
        await using var collector = await OtlpReceiver.StartAsync();
        await using var factory = new GatewayHost { Settings = collector.Settings };
        using var client = factory.CreateClient();
        using var start = await client.PostAsync("/session/start", Json("""{"user_id":"otlp-user","model_group":"g"}"""));
        Assert.Equal(HttpStatusCode.Created, start.StatusCode);

        // A request span from ASP.NET Core and the grain call span it caused (exported in the same or a later batch).
        Assert.True(
            await collector.WaitForAsync("traces", TimeSpan.FromSeconds(20), "sessiontracking-gateway", "POST /session/start")
            && await collector.WaitForAsync("traces", TimeSpan.FromSeconds(20), "sessiontracking-gateway", "ISessionGrain"),
            "no trace with the request and its grain call reached the collector; got: " + string.Join(", ", collector.Received.Select(r => $"{r.Signal} {r.Body.Length} B")));
        Assert.True(
            await collector.WaitForAsync("metrics", TimeSpan.FromSeconds(20), "sessiontracking-gateway", "sessiontracking.sessions.active", "orleans"),
            "no metrics with the service's and Orleans' instruments reached the collector; got: " + string.Join(", ", collector.Received.Select(r => $"{r.Signal} {r.Body.Length} B")));
        Assert.True(await collector.WaitForAsync("logs", TimeSpan.FromSeconds(20), "sessiontracking-gateway"), "no logs reached the collector");
    }

    [Fact]
    public async Task OpenApi_document_and_Scalar_reference_are_served_locally()
    {
        await using var factory = new GatewayHost();
        using var client = factory.CreateClient();
        var document = JsonDocument.Parse(await client.GetStringAsync("/openapi/v1.json")).RootElement;
        var paths = document.GetProperty("paths").EnumerateObject().Select(p => p.Name).ToList();
        Assert.Contains("/session/start", paths);
        Assert.Contains("/analytics", paths);
        Assert.Contains("/exports/events.{format}", paths);
        Assert.DoesNotContain(paths, p => p.StartsWith("/dashboard", StringComparison.Ordinal));

        var scalar = await client.GetStringAsync("/scalar/");
        Assert.Contains("scalar.js", scalar);
        Assert.DoesNotContain("cdn.", scalar); // no internet needed
        using var script = await client.GetAsync("/scalar/scalar.js");
        Assert.Equal(HttpStatusCode.OK, script.StatusCode);
    }

    [Fact]
    public async Task Metrics_need_the_operator_key_when_one_is_configured()
    {
        await using var factory = new GatewayHost { Settings = new Dictionary<string, string> { ["Security:OperatorApiKey"] = "metrics-key-123" } };
        using var client = factory.CreateClient();
        using var anonymous = await client.GetAsync("/metrics");
        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        using var request = new HttpRequestMessage(HttpMethod.Get, "/metrics");
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", "metrics-key-123");
        using var authorized = await client.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, authorized.StatusCode);
    }

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");
}
