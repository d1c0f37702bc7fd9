using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using SessionTracking.TestSupport;

namespace SessionTracking.Reliability.Tests;

/// <summary>
/// Hostile values in every field the figures read (latency_ms, ttft_ms, tokens, stopped, feedback, the data itself, the
/// client times t and sent_at) sent through the public API, then every report, page and export: each answers 2xx, and
/// every number the service computes is finite (docs/analytics.md, "Bounds"). Event data is given back as sent, so the
/// exports' and the timeline's <c>data</c> are left out of the finiteness check (a client may store 1e400 there).
/// </summary>
[TestCategory("SlowBVT")]
public sealed class AnalyticsFuzzTests(ITestOutputHelper output)
{
    private const int Sessions = 120;

    /// <summary>JSON values as raw text: numbers beyond every bound and beyond any double, and everything that is not a number.</summary>
    private static readonly string[] Values =
    [
        "1e308", "-1e308", "1.7976931348623157e308", "1e400", "-1e400", "1e-320", "-1e-320", "5e-324", "0", "-0.0", "-1",
        "86400000", "86400000.0001", "100000000", "100000001", "9007199254740993", "123456789012345678901234567890", "0.5",
        "35000000", "\"1e308\"", "\"NaN\"", "\"Infinity\"", "\"up\"", "\"down\"", "\"neutral\"", "\"\"", "true", "false", "null",
        "[]", "[1e308]", "{}", "{\"v\":1e308}", Nested(28, "1e308"), Nested(40, "1"), NestedObject(20, "-1e308"),
    ];

    /// <summary>Client times: valid, at the limits and beyond them (the gateway refuses the latter with a 400).</summary>
    private static readonly string[] Times =
    [
        "0", "1", "-1", "1e308", "-1e308", "1e-320", "1.5", "253402300799999", "253402300800000", "9007199254740993", "1e400",
        "\"x\"", "null", "[]", "{}", "true",
    ];

    private static readonly string[] Fields = ["latency_ms", "ttft_ms", "tokens", "stopped", "feedback"];

    private static readonly string[] Types = ["model_response", "model_response", "feedback", "prompt", "copy", "selection", "error", "custom_metric"];

    [Fact]
    public async Task Extreme_values_in_every_field_leave_every_report_page_and_export_answering_with_finite_numbers()
    {
        await using var host = new GatewayHost
        {
            Settings = new Dictionary<string, string>
            {
                ["Analytics:Experiments:fz-user:Split:A"] = "1",
                ["Analytics:Experiments:fz-user:Split:B"] = "1",
                ["Analytics:Experiments:fz-user:PrimaryMetric"] = "latency_ms",
                ["Analytics:Experiments:fz-user:PrimaryHigherIsBetter"] = "false",
                ["Analytics:Experiments:fz-user:Guardrails:slow:Metric"] = "latency_ms",
                ["Analytics:Experiments:fz-user:Guardrails:slow:Threshold"] = "0.1",
                ["Analytics:Experiments:fz-user:Guardrails:p95:Metric"] = "latency_p95",
                ["Analytics:Experiments:fz-user:Guardrails:p95:Threshold"] = "0.1",
                ["Analytics:Experiments:fz-user:Guardrails:ttft:Metric"] = "ttft_p95",
                ["Analytics:Experiments:fz-user:Guardrails:ttft:Threshold"] = "0.1",
                ["Analytics:Experiments:fz-user:Guardrails:stops:Metric"] = "stopped_rate",
                ["Analytics:Experiments:fz-user:Guardrails:stops:Threshold"] = "0.1",
            },
        };
        using var client = host.CreateClient();
        var statuses = new Dictionary<int, int>();
        var failures = new List<string>();
        var sessionIds = new List<string>();
        var random = new Random(20261207);
        for (var s = 0; s < Sessions; s++)
        {
            var experiment = s % 2 == 0 ? "fz-user" : "fz-session";
            var start = experiment == "fz-user"
                ? $$"""{"user_id":"user-{{s % 17}}","experiment_id":"fz-user"}"""
                : $$"""{"user_id":"user-{{s % 23}}","experiment_id":"fz-session","model_group":"{{(s % 4 < 2 ? "A" : "B")}}"}""";
            using var started = await client.PostAsync("/session/start", Json(start));
            Assert.Equal(HttpStatusCode.Created, started.StatusCode);
            var sessionId = JsonDocument.Parse(await started.Content.ReadAsStringAsync()).RootElement.GetProperty("session_id").GetString()!;
            sessionIds.Add(sessionId);

            // Ordinary values first, so that every group has figures, comparisons and plans to compute.
            var latency = 300 + random.Next(900);
            var ordinary = $"{{\"type\":\"model_response\",\"data\":{{\"latency_ms\":{latency},\"ttft_ms\":{random.Next(200)},\"tokens\":{random.Next(500)},\"stopped\":{(random.Next(5) == 0 ? "true" : "false")}}}}}";
            var feedback = random.Next(2) == 0 ? "up" : "down";
            await SendAsync($$$"""{"session_id":"{{{sessionId}}}","events":[{"type":"prompt","data":{}},{{{ordinary}}},{"type":"feedback","data":{"feedback":"{{{feedback}}}"}}]}""");

            for (var batch = 0; batch < 10; batch++)
            {
                var events = Enumerable.Range(0, 1 + random.Next(4)).Select(_ => HostileEvent(random));
                var sentAt = random.Next(4) == 0 ? $",\"sent_at\":{Pick(random, Times)}" : "";
                await SendAsync($$"""{"session_id":"{{sessionId}}","events":[{{string.Join(",", events)}}]{{sentAt}}}""");

                // The single-event form too, with hostile data that is not an object at all.
                await SendAsync($$"""{"session_id":"{{sessionId}}","type":"{{Pick(random, Types)}}","data":{{Pick(random, Values)}}}""");
            }

            if (random.Next(5) != 0)
            {
                await SendAsync($$"""{"session_id":"{{sessionId}}","events":[],"end":true}""");
            }
        }

        output.WriteLine($"event requests: {string.Join(", ", statuses.OrderBy(s => s.Key).Select(s => $"{s.Key}×{s.Value}"))}");
        Assert.True(statuses.GetValueOrDefault(200) > Sessions, "most hostile events are accepted (stored as sent)");

        var now = DateTimeOffset.UtcNow;
        var window = $"from={Uri.EscapeDataString(now.AddHours(-1).ToString("O", CultureInfo.InvariantCulture))}&to={now.AddHours(1).ToUnixTimeMilliseconds()}";
        var reads = new List<string> { "/analytics", "/analytics/guide", "/analytics/sessions?limit=500", "/analytics.html", "/timeline.html" };
        foreach (var experiment in new[] { "fz-user", "fz-session" })
        {
            foreach (var query in new[] { "", "&unit=user", "&unit=session", "&" + window, "&unit=user&" + window, "&unit=session&" + window, "&model_group=B", "&baseline=B", "&baseline=B&unit=session&" + window })
            {
                reads.Add($"/analytics?experiment_id={experiment}{query}");
            }

            reads.Add($"/analytics/guide?experiment_id={experiment}&{window}");
            reads.Add($"/analytics/sessions?experiment_id={experiment}&model_group=A&{window}");
            foreach (var (metric, mde) in new[] { ("up_rate", 0.05), ("stopped_rate", 0.05), ("prompts_per_session", 0.5), ("errors_per_session", 0.5), ("latency_ms", 1000), ("duration_ms", 1000) })
            {
                foreach (var unit in new[] { "user", "session" })
                {
                    reads.Add($"/analytics/plan?experiment_id={experiment}&metric={metric}&mde={mde.ToString(CultureInfo.InvariantCulture)}&unit={unit}");
                }
            }

            reads.Add($"/analytics/plan?experiment_id={experiment}&metric=up_rate&mde=0.05&baseline_rate=0.3");
            reads.Add($"/analytics/plan?experiment_id={experiment}&metric=latency_ms&mde=100&baseline_sd=400&alpha=0.01&power=0.9");
        }

        foreach (var path in reads)
        {
            using var response = await client.GetAsync(path);
            var body = await response.Content.ReadAsStringAsync();
            if (!response.IsSuccessStatusCode)
            {
                failures.Add($"{path} → {(int)response.StatusCode}: {body}");
            }
            else if (response.Content.Headers.ContentType?.MediaType == "application/json")
            {
                CheckFinite(JsonDocument.Parse(body).RootElement, path, failures);
            }
        }

        foreach (var format in new[] { "jsonl", "csv" })
        {
            foreach (var kind in new[] { "sessions", "events" })
            {
                foreach (var filter in new[] { "", "?experiment_id=fz-user", "?experiment_id=fz-session&model_group=B&" + window })
                {
                    var path = $"/exports/{kind}.{format}{filter}";
                    using var response = await client.GetAsync(path);
                    var body = await response.Content.ReadAsStringAsync();
                    if (!response.IsSuccessStatusCode)
                    {
                        failures.Add($"{path} → {(int)response.StatusCode}: {body}");
                    }
                    else if (format == "jsonl")
                    {
                        foreach (var line in body.Split('\n', StringSplitOptions.RemoveEmptyEntries))
                        {
                            CheckFinite(JsonDocument.Parse(line).RootElement, path, failures);
                        }
                    }
                }
            }
        }

        // The timeline's data: each session read back page by page.
        foreach (var sessionId in sessionIds.Take(20))
        {
            var path = $"/session/{sessionId}?limit=1000";
            using var response = await client.GetAsync(path);
            var body = await response.Content.ReadAsStringAsync();
            if (!response.IsSuccessStatusCode)
            {
                failures.Add($"{path} → {(int)response.StatusCode}: {body}");
            }
            else
            {
                CheckFinite(JsonDocument.Parse(body).RootElement, path, failures);
            }
        }

        output.WriteLine($"{reads.Count} reports, plans and pages, 12 exports, 20 timelines read");
        Assert.True(failures.Count == 0, string.Join("\n", failures.Take(30)));

        // The values beyond their bounds were counted: in the report and in the service's metric.
        var report = JsonDocument.Parse(await client.GetStringAsync("/analytics?experiment_id=fz-user")).RootElement;
        var excluded = report.GetProperty("experiments")[0].GetProperty("groups").EnumerateArray().Sum(g => g.GetProperty("excluded_values").GetInt64());
        output.WriteLine($"fz-user: {excluded} excluded values");
        Assert.True(excluded > 0);
        Assert.Contains("sessiontracking_values_excluded_total", await client.GetStringAsync("/metrics"), StringComparison.Ordinal);

        async Task SendAsync(string body)
        {
            using var response = await client.PostAsync("/session/event", Json(body));
            var status = (int)response.StatusCode;
            statuses[status] = statuses.GetValueOrDefault(status) + 1;
            if (status >= 500)
            {
                failures.Add($"POST /session/event {body} → {status}: {await response.Content.ReadAsStringAsync()}");
            }
        }
    }

    /// <summary>An event with hostile values in a few of the fields the figures read, and sometimes a hostile client time.</summary>
    private static string HostileEvent(Random random)
    {
        var fields = Fields.Where(_ => random.Next(2) == 0).Select(f => $"\"{f}\":{Pick(random, Values)}");
        var time = random.Next(6) == 0 ? $",\"t\":{Pick(random, Times)}" : "";
        return $$"""{"type":"{{Pick(random, Types)}}","data":{{{string.Join(",", fields)}}}{{time}}}""";
    }

    /// <summary>
    /// Every number outside event data (the service's own figures, times, counts) must be a finite double; <c>data</c>
    /// is the client's, given back as sent.
    /// </summary>
    private static void CheckFinite(JsonElement element, string where, List<string> failures)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Number when !(element.TryGetDouble(out var value) && double.IsFinite(value)):
                failures.Add($"{where}: {element.GetRawText()} is not a finite number");
                break;
            case JsonValueKind.Object:
                foreach (var property in element.EnumerateObject().Where(p => p.Name != "data"))
                {
                    CheckFinite(property.Value, where + "." + property.Name, failures);
                }

                break;
            case JsonValueKind.Array:
                foreach (var item in element.EnumerateArray())
                {
                    CheckFinite(item, where + "[]", failures);
                }

                break;
        }
    }

    private static string Pick(Random random, string[] values) => values[random.Next(values.Length)];

    private static string Nested(int depth, string leaf) => new string('[', depth) + leaf + new string(']', depth);

    private static string NestedObject(int depth, string leaf) => string.Concat(Enumerable.Repeat("{\"a\":", depth)) + leaf + new string('}', depth);

    private static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");
}
