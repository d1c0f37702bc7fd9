using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using SessionTracking.TestSupport;

namespace SessionTracking.Cluster.Tests;

/// <summary>Rules a session keeps whichever process serves it: one writer's numbering, one rate limit.</summary>
[TestCategory("SlowBVT")]
public sealed class SessionWriterTests(ITestOutputHelper output)
{
    /// <summary>
    /// Two activations of one session writing to one store: two gateways with co-hosted silos in two separate clusters
    /// share one SQLite file, so each activates its own grain for the same session id — what a cluster briefly has when
    /// a frozen silo wakes after its sessions moved. Every conflict must be resolved by a reload and retry or answered
    /// 503, never 500; every acknowledged id is stored once and the numbering has no gap.
    /// </summary>
    [Fact]
    public async Task Two_activations_of_one_session_writing_through_two_gateways_conflict_without_5xx_loss_or_duplicates()
    {
        var data = RepoPaths.NewTempDirectory("two-activations");
        var (first, firstAddress) = ServiceProcess.StartGateway(data, new Dictionary<string, string?> { ["Cluster__ClusterId"] = "first" });
        var (second, secondAddress) = ServiceProcess.StartGateway(data, new Dictionary<string, string?> { ["Cluster__ClusterId"] = "second" });
        await using var _ = first;
        await using var __ = second;
        try
        {
            await first.WaitUntilReadyAsync(new Uri(firstAddress, "/readyz"), TimeSpan.FromSeconds(90));
            await second.WaitUntilReadyAsync(new Uri(secondAddress, "/readyz"), TimeSpan.FromSeconds(90));
            using var a = new HttpClient { BaseAddress = firstAddress, Timeout = TimeSpan.FromSeconds(30) };
            using var b = new HttpClient { BaseAddress = secondAddress, Timeout = TimeSpan.FromSeconds(30) };
            using var started = await a.PostAsync("/session/start", Json("""{"user_id":"u","model_group":"g"}"""));
            var session = (await started.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("session_id").GetString()!;

            // Alternating writers: each write meets the other activation's last write, reloads and numbers after it.
            for (var i = 0; i < 10; i++)
            {
                using var response = await (i % 2 == 0 ? a : b).PostAsync("/session/event", Json(Batch(session, $"alt-{i}")));
                var body = await response.Content.ReadAsStringAsync();
                Assert.True(response.StatusCode == HttpStatusCode.OK, $"write {i}: {(int)response.StatusCode} {body}");
                Assert.Equal(i + 1, JsonDocument.Parse(body).RootElement.GetProperty("last_seq").GetInt64());
            }

            // Concurrent writers on both activations, retrying each batch (same id) until acknowledged.
            var statuses = new ConcurrentDictionary<int, int>();
            var acknowledged = new ConcurrentBag<string>();
            await Task.WhenAll(Enumerable.Range(0, 8).Select(w => Task.Run(async () =>
            {
                var client = w % 2 == 0 ? a : b;
                for (var n = 0; n < 12; n++)
                {
                    var id = $"w{w}-{n}";
                    for (var attempt = 0; attempt < 50; attempt++)
                    {
                        using var response = await client.PostAsync("/session/event", Json(Batch(session, id)));
                        statuses.AddOrUpdate((int)response.StatusCode, 1, (_, c) => c + 1);
                        if (response.StatusCode == HttpStatusCode.OK)
                        {
                            acknowledged.Add(id);
                            break;
                        }

                        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
                        Assert.NotNull(response.Headers.RetryAfter);
                        await Task.Delay(20);
                    }
                }
            })));

            // Every acknowledged id resent through the other gateway is a duplicate.
            using var resend = await b.PostAsync("/session/event", Json($$"""{"session_id":"{{session}}","events":[{{string.Join(',', acknowledged.Select(id => $$"""{"type":"click","id":"{{id}}"}"""))}}]}"""));
            var resent = JsonDocument.Parse(await resend.Content.ReadAsStringAsync()).RootElement;
            var document = await a.GetFromJsonAsync<JsonElement>($"/session/{session}?limit=10000");
            var events = document.GetProperty("events").EnumerateArray().ToList();
            var ids = events.Select(e => e.GetProperty("id").GetString()!).ToList();
            output.WriteLine($"answers during concurrent writes: {string.Join(", ", statuses.OrderBy(s => s.Key).Select(s => $"{s.Key}×{s.Value}"))}; stored {ids.Count} events");

            Assert.Equal(HttpStatusCode.OK, resend.StatusCode);
            Assert.Equal((0, acknowledged.Count), (resent.GetProperty("accepted").GetInt32(), resent.GetProperty("duplicates").GetInt32()));
            Assert.Equal(96, acknowledged.Count);
            Assert.Equal(ids.Count, ids.Distinct().Count());
            Assert.Empty(acknowledged.Concat(Enumerable.Range(0, 10).Select(i => $"alt-{i}")).Except(ids));
            Assert.Equal(Enumerable.Range(1, events.Count).Select(i => (long)i), events.Select(e => e.GetProperty("seq").GetInt64()));
            Assert.DoesNotContain(statuses.Keys, status => status >= 500 && status != 503);
        }
        catch
        {
            output.WriteLine("--- first gateway:\n" + first.Output[Math.Max(0, first.Output.Length - 4000)..]);
            output.WriteLine("--- second gateway:\n" + second.Output[Math.Max(0, second.Output.Length - 4000)..]);
            throw;
        }
        finally
        {
            await first.StopAsync(TimeSpan.FromSeconds(20));
            await second.StopAsync(TimeSpan.FromSeconds(20));
            Directory.Delete(data, recursive: true);
        }
    }

    /// <summary>Two gateways in front of one silo: the session's limit is the grain's, so it is not doubled.</summary>
    [Fact]
    public async Task The_session_rate_limit_holds_across_gateways()
    {
        const int perSecond = 5;
        await using var cluster = await ProcessCluster.StartAsync(silos: 1, new() { ["Sessions__RequestsPerSecond"] = perSecond.ToString(System.Globalization.CultureInfo.InvariantCulture) });
        try
        {
            var (_, firstAddress) = await cluster.StartGatewayAsync();
            var (_, secondAddress) = await cluster.StartGatewayAsync();
            using var a = new HttpClient { BaseAddress = firstAddress, Timeout = TimeSpan.FromSeconds(30) };
            using var b = new HttpClient { BaseAddress = secondAddress, Timeout = TimeSpan.FromSeconds(30) };
            using var started = await a.PostAsync("/session/start", Json("""{"user_id":"u","model_group":"g"}"""));
            var session = (await started.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("session_id").GetString()!;

            var accepted = 0;
            var limitedBy = new HashSet<Uri>();
            var clock = Stopwatch.StartNew();
            for (var i = 0; i < 40; i++)
            {
                var client = i % 2 == 0 ? a : b;
                using var response = await client.PostAsync("/session/event", Json(Batch(session, $"r{i}")));
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    accepted++;
                    continue;
                }

                Assert.Equal(HttpStatusCode.TooManyRequests, response.StatusCode);
                Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
                Assert.Equal(TimeSpan.FromSeconds(1), response.Headers.RetryAfter?.Delta);
                limitedBy.Add(client.BaseAddress!);
            }

            // A full bucket (2 s worth) plus the refill while the requests ran; per-gateway limits would allow twice that.
            var allowed = (2 * perSecond) + (int)Math.Ceiling(clock.Elapsed.TotalSeconds * perSecond);
            output.WriteLine($"40 requests over {clock.Elapsed.TotalSeconds:F2} s through two gateways: {accepted} accepted, {allowed} allowed");
            Assert.InRange(accepted, 2 * perSecond, allowed);
            Assert.Equal(2, limitedBy.Count);
        }
        catch
        {
            output.WriteLine(cluster.RecentOutput());
            throw;
        }
    }

    private static string Batch(string session, string id) => $$"""{"session_id":"{{session}}","events":[{"type":"click","id":"{{id}}"}]}""";

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");
}
