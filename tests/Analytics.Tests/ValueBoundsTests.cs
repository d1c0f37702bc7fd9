using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Microsoft.Data.Sqlite;
using SessionTracking.ReadModel;
using SessionTracking.TestSupport;

namespace SessionTracking.Analytics.Tests;

/// <summary>
/// One event must never break a report: numeric fields outside their bounds (docs/analytics.md, "Bounds") are stored as
/// sent, left out of the figures and counted as excluded values; the statistics never write a non-finite number.
/// </summary>
[TestCategory("BVT")]
public sealed class ValueBoundsTests
{
    [Theory]
    [InlineData("""{"latency_ms":0,"ttft_ms":86400000,"tokens":100000000}""", 3, 0)]
    [InlineData("""{"latency_ms":1e-320,"ttft_ms":12.5,"tokens":0}""", 3, 0)]
    [InlineData("""{"latency_ms":1e308,"ttft_ms":-1,"tokens":100000001}""", 0, 3)]
    [InlineData("""{"latency_ms":-1e308,"ttft_ms":86400000.5,"tokens":1e400}""", 0, 3)]
    [InlineData("""{"latency_ms":"1e308","ttft_ms":true,"tokens":null}""", 0, 0)]
    [InlineData("""{"latency_ms":[1],"ttft_ms":{"v":1},"tokens":"5"}""", 0, 0)]
    public void Bounds_decide_which_numbers_count_and_which_are_excluded(string data, int included, int excluded)
    {
        var builder = new SessionSummaryBuilder(SessionSummary.Started(), countsExclusions: false);
        var samples = new List<MetricSample>();
        builder.Add(new StoredEvent(1, 0, "model_response", data, null, 0, 0), samples);
        var summary = builder.Snapshot();

        Assert.Equal(included, summary[MetricField.LatencyCount] + summary[MetricField.TtftCount] + summary[MetricField.TokensCount]);
        Assert.Equal(excluded, summary[MetricField.ExcludedValues]);
        Assert.Equal(1, summary[MetricField.Responses]);
        Assert.All(summary.Values.ToArray(), v => Assert.True(double.IsFinite(v)));
        Assert.All(samples, s => Assert.InRange(s.Value, 0, ValueBounds.MaxLatencyMs));
        Assert.Equal(included - (int)summary[MetricField.TokensCount], samples.Count);
    }

    [Fact]
    public void Figures_that_cannot_be_computed_in_doubles_are_null_not_infinite()
    {
        // Moments as a database built before the bounds holds them: two sessions with a latency of 1e308.
        var moments = new Moments();
        foreach (var latency in new[] { 1e308, 1e308 })
        {
            var values = SessionSummary.Started().Values.ToArray();
            values[(int)MetricField.LatencyCount] = 1;
            values[(int)MetricField.LatencySum] = latency;
            values[(int)MetricField.LatencySumSquares] = latency * latency;
            moments.Add(values);
        }

        var ratio = Statistics.Ratio(moments, MetricField.LatencySum, MetricField.LatencyCount);
        Assert.Equal((null, null), ratio);
        Assert.Equal(new Estimate(null, null, null), Statistics.Interval(ratio));
        Assert.Equal(new Estimate(1, null, null), Statistics.Interval((1, double.PositiveInfinity)));
        Assert.Null(Statistics.StandardDeviation(2, 2e307, double.PositiveInfinity));
        Assert.Null(Statistics.Compare((-1e308, 1), (1e308, 1)).Value);
        var wide = Statistics.Compare((0, 1e308), (1, 1e308));
        Assert.Equal(1, wide.Value);
        Assert.Null(wide.Low);
        Assert.Null(wide.PValue);
        Assert.Null(Statistics.Sequential(1e308, 1e308, 1e10, 0.05, 0.1));

        var sketch = new QuantileSketch();
        sketch.AddBin(QuantileSketch.BinOf(double.MaxValue) + 100, 2); // a bin beyond the largest double
        Assert.Null(sketch.Quantile(0.5));
    }

    [Fact]
    public async Task A_latency_of_1e308_leaves_the_report_whole_and_counts_as_excluded()
    {
        await using var host = new GatewayHost();
        using var client = host.CreateClient();
        await SendSessionAsync(client, "poison", "A", "u1", """{"type":"model_response","data":{"latency_ms":1e308,"ttft_ms":1e308,"tokens":1e308}}""");
        await SendSessionAsync(client, "poison", "A", "u2", """{"type":"model_response","data":{"latency_ms":100,"ttft_ms":10}}""", """{"type":"model_response","data":{"latency_ms":300}}""");
        await SendSessionAsync(client, "poison", "B", "u3", """{"type":"model_response","data":{"latency_ms":-5}}""", """{"type":"model_response","data":{"latency_ms":200}}""");
        await SendSessionAsync(client, "poison", "B", "u4", """{"type":"model_response","data":{"latency_ms":400,"tokens":20}}""");

        foreach (var path in new[] { "/analytics?experiment_id=poison", "/analytics?experiment_id=poison&unit=user", "/analytics/guide?experiment_id=poison" })
        {
            using var response = await client.GetAsync(path);
            var body = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"{path}: {(int)response.StatusCode} {body}");
            JsonNumbers.AssertAllFinite(JsonDocument.Parse(body).RootElement, path);
        }

        var report = (await client.GetFromJsonAsync<JsonElement>("/analytics?experiment_id=poison")).GetProperty("experiments")[0];
        var groups = report.GetProperty("groups").EnumerateArray().ToDictionary(g => g.GetProperty("model_group").GetString()!);
        Assert.Equal(3, groups["A"].GetProperty("excluded_values").GetInt64());
        Assert.Equal(2, groups["A"].GetProperty("latency_ms").GetProperty("count").GetInt64());
        Assert.Equal(200, groups["A"].GetProperty("latency_ms").GetProperty("mean").GetDouble(), 1e-9);
        Assert.Equal(1, groups["B"].GetProperty("excluded_values").GetInt64());
        Assert.Equal(300, groups["B"].GetProperty("latency_ms").GetProperty("mean").GetDouble(), 1e-9);
        Assert.Equal(100, report.GetProperty("comparisons")[0].GetProperty("latency_ms").GetProperty("value").GetDouble(), 1e-9);

        // Stored as sent: the export gives the event back untouched.
        var export = await client.GetStringAsync("/exports/events.jsonl?experiment_id=poison&model_group=A");
        Assert.Contains("\"latency_ms\":1e308", export, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_database_built_before_the_bounds_gets_the_column_and_a_rebuilt_read_model()
    {
        using var directory = new TempDirectory("value-bounds");
        await using (var first = new GatewayHost(directory.Path))
        {
            using var client = first.CreateClient();
            await SendSessionAsync(client, "old", "A", "u1", """{"type":"model_response","data":{"latency_ms":1e308}}""", """{"type":"model_response","data":{"latency_ms":50}}""");
            await SendSessionAsync(client, "old", "A", "u2", """{"type":"model_response","data":{"latency_ms":150}}""");
        }

        // As version 1 left it: no excluded_values column, and the out-of-bound latency summed into the figures.
        await using (var connection = new SqliteConnection($"Data Source={Path.Combine(directory.Path, "sessions.db")};Pooling=False"))
        {
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = """
                ALTER TABLE session_summaries DROP COLUMN excluded_values;
                ALTER TABLE user_summaries DROP COLUMN excluded_values;
                UPDATE session_summaries SET latency_count = latency_count + 1, latency_sum = latency_sum + 1e308, latency_sum_squares = 1e308 * 1e308
                WHERE latency_count = 1 AND latency_sum = 50;
                PRAGMA user_version = 1;
                """;
            command.ExecuteNonQuery();
        }

        await using var second = new GatewayHost(directory.Path);
        using var again = second.CreateClient();
        var group = (await again.GetFromJsonAsync<JsonElement>("/analytics?experiment_id=old")).GetProperty("experiments")[0].GetProperty("groups")[0];
        Assert.Equal(1, group.GetProperty("excluded_values").GetInt64());
        Assert.Equal(2, group.GetProperty("latency_ms").GetProperty("count").GetInt64());
        Assert.Equal(100, group.GetProperty("latency_ms").GetProperty("mean").GetDouble(), 1e-9);
    }

    /// <summary>Starts a session and sends its events (each a JSON object), then ends it.</summary>
    internal static async Task<string> SendSessionAsync(HttpClient client, string experiment, string group, string user, params string[] events)
    {
        using var started = await client.PostAsJsonAsync("/session/start", new { user_id = user, experiment_id = experiment, model_group = group });
        Assert.Equal(HttpStatusCode.Created, started.StatusCode);
        var sessionId = (await started.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("session_id").GetString()!;
        var body = $$"""{"session_id":"{{sessionId}}","events":[{{string.Join(",", events)}}],"end":true}""";
        using var appended = await client.PostAsync("/session/event", new StringContent(body, Encoding.UTF8, "application/json"));
        Assert.True(appended.StatusCode == HttpStatusCode.OK, $"{(int)appended.StatusCode} {await appended.Content.ReadAsStringAsync()}");
        return sessionId;
    }
}

/// <summary>Walks a JSON answer: every number in it must be finite (and readable as a double).</summary>
internal static class JsonNumbers
{
    public static void AssertAllFinite(JsonElement element, string where)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Number:
                Assert.True(element.TryGetDouble(out var value) && double.IsFinite(value), $"{where}: {element.GetRawText()} is not a finite number");
                break;
            case JsonValueKind.Object:
                foreach (var property in element.EnumerateObject())
                {
                    AssertAllFinite(property.Value, where + "." + property.Name);
                }

                break;
            case JsonValueKind.Array:
                var i = 0;
                foreach (var item in element.EnumerateArray())
                {
                    AssertAllFinite(item, $"{where}[{i++}]");
                }

                break;
        }
    }
}
