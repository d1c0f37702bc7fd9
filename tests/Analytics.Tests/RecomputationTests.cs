using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using SessionTracking.TestSupport;

namespace SessionTracking.Analytics.Tests;

/// <summary>
/// Every figure of GET /analytics against an independent recomputation from the JSONL export
/// (<see cref="ReportRecomputation"/>), on data sent through the public API: more than 10,000 latency values per group,
/// users with several correlated sessions, feedback values outside up/down/neutral, values on and beyond their bounds
/// (counted as excluded), open and ended sessions; with users and sessions as units, and with group and time filters.
/// </summary>
[TestCategory("SlowBVT")]
public sealed class RecomputationTests(RecomputationDataset dataset) : IClassFixture<RecomputationDataset>
{
    private readonly HttpClient _client = dataset.Client;

    [Fact]
    public async Task Users_as_units_every_figure_equals_the_recomputation_from_the_export()
    {
        var sessions = await ExportAsync("rx");
        var report = await ReportAsync("/analytics?experiment_id=rx");
        Assert.Equal("user", report.GetProperty("unit").GetString());
        Assert.All(report.GetProperty("groups").EnumerateArray(), g => Assert.True(g.GetProperty("latency_ms").GetProperty("count").GetInt64() >= 10_000, "at least 10,000 latency values per group"));
        Assert.All(report.GetProperty("groups").EnumerateArray(), g => Assert.True(g.GetProperty("excluded_values").GetInt64() > 100, "values beyond their bounds in every group"));
        AssertRecomputed(report, sessions, usersAsUnits: true);

        // The sample-ratio check counts users: every user has all of its sessions in its group.
        var srm = report.GetProperty("sample_ratio");
        var observed = sessions.GroupBy(s => s.ModelGroup).ToDictionary(g => g.Key, g => g.Select(s => s.UserId).Distinct().Count());
        Assert.Equal(observed["A"], srm.GetProperty("observed").GetProperty("A").GetInt64());
        Assert.Equal(observed["A"] + observed["B"], sessions.Select(s => s.UserId).Distinct().Count());
    }

    [Fact]
    public async Task Sessions_as_units_every_figure_equals_the_recomputation_from_the_export()
    {
        AssertRecomputed(await ReportAsync("/analytics?experiment_id=rx&unit=session"), await ExportAsync("rx"), usersAsUnits: false);
        var sx = await ReportAsync("/analytics?experiment_id=sx");
        Assert.Equal("session", sx.GetProperty("unit").GetString());
        AssertRecomputed(sx, await ExportAsync("sx"), usersAsUnits: false);
    }

    [Fact]
    public async Task Group_and_time_filters_equal_the_recomputation_of_what_they_select()
    {
        var all = await ExportAsync("rx");

        // A group filter reports that group with the same figures and comparisons against the baseline.
        var onlyB = await ReportAsync("/analytics?experiment_id=rx&model_group=B");
        Assert.Equal(["B"], onlyB.GetProperty("groups").EnumerateArray().Select(g => g.GetProperty("model_group").GetString()));
        AssertRecomputed(onlyB, all, usersAsUnits: true);

        // A window cut at two sessions' start times (milliseconds inside an hour): the sessions starting in it.
        var starts = all.Select(s => s.StartMs).Order().ToList();
        var (from, to) = (starts[starts.Count / 4], starts[starts.Count * 3 / 4]);
        var window = all.Where(s => s.StartMs >= from && s.StartMs < to).ToList();
        var fromText = Uri.EscapeDataString(DateTimeOffset.FromUnixTimeMilliseconds(from).ToString("O", CultureInfo.InvariantCulture));
        foreach (var unit in new[] { "user", "session" })
        {
            var report = await ReportAsync($"/analytics?experiment_id=rx&from={fromText}&to={to}&unit={unit}");
            Assert.Equal(window.Count, report.GetProperty("groups").EnumerateArray().Sum(g => g.GetProperty("sessions").GetInt64()));
            AssertRecomputed(report, window, usersAsUnits: unit == "user");
        }
    }

    private static void AssertRecomputed(JsonElement report, List<ReportRecomputation.Session> sessions, bool usersAsUnits)
    {
        var failures = new List<string>();
        ReportRecomputation.AssertReport(report, sessions, usersAsUnits, (ok, message) =>
        {
            if (!ok)
            {
                failures.Add(message);
            }
        });
        Assert.True(failures.Count == 0, string.Join("\n", failures.Take(20)));
    }

    private async Task<List<ReportRecomputation.Session>> ExportAsync(string experiment)
    {
        var text = await _client.GetStringAsync($"/exports/sessions.jsonl?experiment_id={experiment}");
        return ReportRecomputation.ParseExport(text);
    }

    private async Task<JsonElement> ReportAsync(string path)
    {
        using var response = await _client.GetAsync(path);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return Assert.Single((await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("experiments").EnumerateArray());
    }
}

/// <summary>The data of <see cref="RecomputationTests"/>, sent once through the public API of one gateway.</summary>
public sealed class RecomputationDataset : IAsyncLifetime
{
    private readonly GatewayHost _factory = new()
    {
        Settings = new Dictionary<string, string>
        {
            ["Analytics:Experiments:rx:Split:A"] = "1",
            ["Analytics:Experiments:rx:Split:B"] = "1",
        },
    };

    private HttpClient _client = null!;

    public HttpClient Client => _client;

    public async Task InitializeAsync()
    {
        _client = _factory.CreateClient();
        var random = new Random(20261130);
        var users = Enumerable.Range(0, 4400).Select(i => (Id: $"user-{i}", Sessions: 1 + (i % 3), Speed: 0.5 + random.NextDouble(), Happiness: random.NextDouble())).ToList();
        var plans = new List<(string User, string Experiment, string? Group, double Speed, double Happiness, int Seed)>();
        foreach (var user in users)
        {
            for (var s = 0; s < user.Sessions; s++)
            {
                plans.Add((user.Id, "rx", null, user.Speed, user.Happiness, random.Next()));
            }
        }

        // A second experiment without a configured split: the client picks the group per session.
        for (var i = 0; i < 800; i++)
        {
            plans.Add(($"sx-user-{i % 500}", "sx", i % 2 == 0 ? "A" : "B", 0.5 + random.NextDouble(), random.NextDouble(), random.Next()));
        }

        await Parallel.ForEachAsync(plans, new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (plan, ct) => await SendSessionAsync(plan, ct));
    }

    public async Task DisposeAsync()
    {
        _client.Dispose();
        await _factory.DisposeAsync();
    }

    /// <summary>
    /// Values at and beyond the bounds of docs/analytics.md ("Bounds"): the ones outside are excluded and counted, the
    /// ones on a bound (0, 24 h, 10⁸ tokens, a subnormal) count.
    /// </summary>
    private static readonly object[] Extremes =
    [
        new { text = "a", latency_ms = 1e308, ttft_ms = 1e308, tokens = 1e308 },
        new { text = "a", latency_ms = -1e308, ttft_ms = -5.0, tokens = -1.0 },
        new { text = "a", latency_ms = 90_000_000.0, ttft_ms = 86_400_001.0, tokens = 100_000_001.0 },
        new { text = "a", latency_ms = 86_400_000.0, ttft_ms = 0.0, tokens = 100_000_000.0 },
        new { text = "a", latency_ms = 1e-320, ttft_ms = 1e-320, tokens = 0.0 },
    ];

    /// <summary>One session: 1–5 prompt/response pairs (latency and TTFT scaled by the user's speed), feedback that depends on the user, copies, errors.</summary>
    private async Task SendSessionAsync((string User, string Experiment, string? Group, double Speed, double Happiness, int Seed) plan, CancellationToken ct)
    {
        var random = new Random(plan.Seed);
        var start = plan.Group is null
            ? new { user_id = plan.User, experiment_id = plan.Experiment, model_group = (string?)null }
            : new { user_id = plan.User, experiment_id = plan.Experiment, model_group = (string?)plan.Group };
        using var started = await _client.PostAsJsonAsync("/session/start", start, ct);
        Assert.Equal(HttpStatusCode.Created, started.StatusCode);
        var sessionId = (await started.Content.ReadFromJsonAsync<JsonElement>(ct)).GetProperty("session_id").GetString()!;

        var events = new List<object>();
        var pairs = 1 + random.Next(5);
        for (var i = 0; i < pairs; i++)
        {
            events.Add(new { type = "prompt", data = new { text = "q" } });
            var latency = Math.Round(plan.Speed * (300 + (random.NextDouble() * 900)), 1);
            object response = random.Next(10) switch
            {
                0 => new { text = "a", latency_ms = "slow" },
                2 when random.Next(2) == 0 => Extremes[random.Next(Extremes.Length)],
                1 => new { text = "a", latency_ms = latency, stopped = true, tokens = random.Next(1, 50) },
                _ => new { text = "a", latency_ms = latency, ttft_ms = Math.Round(latency * 0.2, 2), tokens = random.Next(1, 400) },
            };
            events.Add(new { type = "model_response", data = response });
        }

        for (var i = random.Next(3); i > 0; i--)
        {
            var roll = random.NextDouble();
            object value = roll < 0.05 ? 5 : roll < 0.1 ? "meh" : roll < plan.Happiness ? "up" : roll < plan.Happiness + ((1 - plan.Happiness) / 2) ? "down" : "neutral";
            events.Add(new { type = "feedback", data = new { feedback = value } });
        }

        if (random.Next(3) == 0)
        {
            events.Add(new { type = "copy", data = new { } });
        }

        if (random.Next(4) == 0)
        {
            events.Add(new { type = "selection", data = new { } });
        }

        if (random.Next(8) == 0)
        {
            events.Add(new { type = "error", data = new { message = "x" } });
        }

        events.Add(new { type = "click", data = new { } });
        var body = JsonSerializer.Serialize(new { session_id = sessionId, events, end = random.Next(5) != 0 });
        using var content = new StringContent(body, Encoding.UTF8, "application/json");
        using var appended = await _client.PostAsync("/session/event", content, ct);
        Assert.Equal(HttpStatusCode.OK, appended.StatusCode);
    }
}
