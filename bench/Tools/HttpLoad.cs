using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;

namespace SessionTracking.Bench;

internal static class HttpLoad
{
    public static async Task<int> StartSessionsAsync(Uri baseAddress, int count, string output)
    {
        using var http = new HttpClient { BaseAddress = baseAddress };
        var ids = new string[count];
        var next = -1;
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, 64).Select(_ => Task.Run(async () =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < count)
            {
                using var response = await http.PostAsync("/session/start", new StringContent($$"""{"user_id":"bench-{{i}}","model_group":"g{{i % 2}}"}""", Encoding.UTF8, "application/json"));
                response.EnsureSuccessStatusCode();
                ids[i] = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("session_id").GetString()!;
            }
        })));
        await File.WriteAllLinesAsync(output, ids);
        Console.WriteLine($"JSON {{\"sessions\":{count},\"seconds\":{clock.Elapsed.TotalSeconds.ToString("F2", CultureInfo.InvariantCulture)}}}");
        return 0;
    }

    /// <summary>
    /// Open-loop load at a fixed rate (what wrk2 does): request i is due at start + i/rate and its latency counts from
    /// that due time, so a stalled server cannot hide its queueing delay (no coordinated omission). The first
    /// <see cref="WarmupSeconds"/> run at the same rate unrecorded: without them, this client's own JIT and connection
    /// set-up put ~200 ms into the p99 of even the bare Kestrel baseline.
    /// </summary>
    public static async Task<int> PacedAsync(Uri baseAddress, string idsFile, double rate, double seconds)
    {
        var ids = await File.ReadAllLinesAsync(idsFile);
        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 256 }) { BaseAddress = baseAddress };
        await RunPacedAsync(http, ids, rate, (int)(rate * WarmupSeconds));
        var (latencies, failures, elapsed) = await RunPacedAsync(http, ids, rate, (int)(rate * seconds));
        var total = latencies.Length;
        Array.Sort(latencies);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"JSON {{\"target_rps\":{rate:F0},\"achieved_rps\":{total / elapsed:F0},\"p50_ms\":{latencies[total / 2]:F2},\"p99_ms\":{latencies[(int)(total * 0.99)]:F2},\"max_ms\":{latencies[^1]:F2},\"failures\":{failures}}}"));
        return 0;
    }

    private const double WarmupSeconds = 3;

    private static async Task<(double[] Latencies, int Failures, double Seconds)> RunPacedAsync(HttpClient http, string[] ids, double rate, int total)
    {
        var latencies = new double[total];
        var failures = 0;
        var clock = Stopwatch.StartNew();
        var tasks = new List<Task>(total);
        for (var i = 0; i < total; i++)
        {
            var due = i / rate;
            var wait = due - clock.Elapsed.TotalSeconds;
            if (wait > 0.001)
            {
                await Task.Delay(TimeSpan.FromSeconds(wait));
            }

            var index = i;
            tasks.Add(Task.Run(async () =>
            {
                var body = $$"""{"session_id":"{{ids[index % ids.Length]}}","type":"click","data":{"target":"BUTTON","x":150,"y":300,"page_url":"/chat"},"t":1730000000000}""";
                using var response = await http.PostAsync("/session/event", new StringContent(body, Encoding.UTF8, "application/json"));
                if (!response.IsSuccessStatusCode)
                {
                    Interlocked.Increment(ref failures);
                }

                latencies[index] = (clock.Elapsed.TotalSeconds - due) * 1000;
            }));
        }

        await Task.WhenAll(tasks);
        return (latencies, failures, clock.Elapsed.TotalSeconds);
    }
}
