using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;

namespace SessionTracking.Bench;

/// <summary>
/// The experiment-report benchmark's data and timings, through the public API. A session is 20 events: 3 prompts,
/// 3 model responses with latency_ms, ttft_ms, model and token counts, 1 feedback, a rating, a purchase, a task completion
/// or a regenerate, and 10 interactions, sent in one batch that ends it.
/// </summary>
internal static class AnalyticsLoad
{
    private const int EventsPerSession = 20;
    private static readonly string[] Interactions = ["click", "scroll", "hover", "selection", "copy", "key", "navigate", "activity"];

    /// <summary>Sessions <paramref name="first"/> … <paramref name="first"/> + count − 1 of experiment <paramref name="experiment"/>, groups A and B.</summary>
    public static async Task<int> LoadAsync(Uri baseAddress, string experiment, int first, int count)
    {
        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 64 }) { BaseAddress = baseAddress, Timeout = TimeSpan.FromMinutes(2) };
        var next = first - 1;
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, 32).Select(_ => Task.Run(async () =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < first + count)
            {
                await SendSessionAsync(http, experiment, i);
            }
        })));
        var seconds = clock.Elapsed.TotalSeconds;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"JSON {{\"sessions\":{count},\"events\":{count * EventsPerSession},\"seconds\":{seconds:F1},\"events_per_second\":{count * EventsPerSession / seconds:F0}}}"));
        return 0;
    }

    /// <summary>The first report after loading, then the median and spread of <paramref name="warm"/> more.</summary>
    public static async Task<int> TimeReportAsync(Uri baseAddress, string path, int warm)
    {
        using var http = new HttpClient { BaseAddress = baseAddress, Timeout = TimeSpan.FromMinutes(5) };
        var first = await TimeAsync(http, path);
        var times = new double[warm];
        for (var i = 0; i < warm; i++)
        {
            times[i] = await TimeAsync(http, path);
        }

        Array.Sort(times);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"JSON {{\"first_ms\":{first:F1},\"warm_median_ms\":{times[warm / 2]:F1},\"warm_min_ms\":{times[0]:F1},\"warm_max_ms\":{times[^1]:F1},\"warm_runs\":{warm}}}"));
        return 0;
    }

    private static async Task<double> TimeAsync(HttpClient http, string path)
    {
        var clock = Stopwatch.StartNew();
        using var response = await http.GetAsync(path);
        await response.Content.ReadAsByteArrayAsync();
        response.EnsureSuccessStatusCode();
        return clock.Elapsed.TotalMilliseconds;
    }

    private static async Task SendSessionAsync(HttpClient http, string experiment, int i)
    {
        var random = new Random(i);
        var group = i % 2 == 0 ? "A" : "B";
        using var started = await http.PostAsync("/session/start", Json($$"""{"user_id":"bench-user-{{i}}","model_group":"{{group}}","experiment_id":"{{experiment}}"}"""));
        started.EnsureSuccessStatusCode();
        var sessionId = (await started.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("session_id").GetString();
        var events = new List<string>(EventsPerSession);
        for (var p = 0; p < 3; p++)
        {
            var latency = (group == "A" ? 900 : 800) + random.Next(600);
            events.Add($$"""{"type":"prompt","data":{"text":"question {{p}}"},"id":"{{i}}-p{{p}}"}""");
            events.Add($$"""{"type":"model_response","data":{"text":"answer","latency_ms":{{latency}},"ttft_ms":{{latency / 5}},"model":"m1","input_tokens":{{100 + random.Next(900)}},"output_tokens":{{random.Next(400)}}},"id":"{{i}}-r{{p}}"}""");
        }

        events.Add($$"""{"type":"feedback","data":{"feedback":"{{(random.Next(3) == 0 ? "down" : "up")}}"},"id":"{{i}}-f"}""");
        // Events of the deployment's own types, for custom metrics (bench/custom-metrics.sh): a rating, a purchase with a
        // heavy tail, a task completion in two sessions of three.
        events.Add($$"""{"type":"rating","data":{"score":{{1 + random.Next(5)}}},"id":"{{i}}-c0"}""");
        events.Add($$"""{"type":"purchase","data":{"amount":{{Math.Round(Math.Exp(random.NextDouble() * 8), 2).ToString(System.Globalization.CultureInfo.InvariantCulture)}}},"id":"{{i}}-c1"}""");
        events.Add(random.Next(3) == 0
            ? $$"""{"type":"regenerate","data":{},"id":"{{i}}-c2"}"""
            : $$"""{"type":"task_completed","data":{"steps":{{random.Next(10)}}},"id":"{{i}}-c2"}""");
        for (var k = 0; k < 10; k++)
        {
            events.Add($$"""{"type":"{{Interactions[k % Interactions.Length]}}","data":{"x":{{random.Next(1000)}}},"id":"{{i}}-x{{k}}"}""");
        }

        using var response = await http.PostAsync("/session/event", Json($$"""{"session_id":"{{sessionId}}","end":true,"events":[{{string.Join(',', events)}}]}"""));
        response.EnsureSuccessStatusCode();
    }

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");
}
