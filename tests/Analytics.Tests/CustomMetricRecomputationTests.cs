using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using SessionTracking.TestSupport;

namespace SessionTracking.Analytics.Tests;

/// <summary>
/// Every custom metric figure of GET /analytics (docs/custom-metrics.md) against an independent recomputation from the
/// JSONL session export (<see cref="CustomMetricRecomputation"/>: plain LINQ over the exported events, none of the
/// service's metric code), on data sent through the public API: more than 10,000 units per group with sessions as the
/// experiment's unit (<c>cs</c>) and more than 10,000 users per group with users as its unit (<c>cu</c>, 1–3 sessions
/// each); every kind, conditions, windows, caps at a value and at a percentile, and the price table; with users and
/// sessions as units, a group filter and a time window.
/// </summary>
/// <remarks>
/// Tolerances: figures without a percentile cap are exact up to floating-point summation order (relative 1e-9 on values,
/// 1e-6 of the interval's half-width on its ends). A quantile comes from a DDSketch with 1 % relative accuracy, so its
/// value is within 1 % of numpy's linear interpolation of the exact values. A cap at a percentile is read from a DDSketch
/// of the units' values pooled over every group (within 1 % of the exact percentile), and the units in the cap's own bin
/// are counted at the cap: the capped figures are within 2 % of an exact winsorization at the exact percentile.
/// </remarks>
[TestCategory("SlowBVT")]
public sealed class CustomMetricRecomputationTests(CustomMetricDataset dataset) : IClassFixture<CustomMetricDataset>
{
    [Fact]
    public async Task Sessions_as_units_every_custom_figure_equals_the_recomputation_from_the_export()
    {
        var export = await dataset.ExportAsync("cs");
        var report = await dataset.ReportAsync("/analytics?experiment_id=cs");
        Assert.Equal("session", report.GetProperty("unit").GetString());
        Assert.All(report.GetProperty("groups").EnumerateArray(), g => Assert.True(g.GetProperty("units").GetInt64() >= 10_000, "at least 10,000 sessions per group"));
        AssertRecomputed(report, export, export.Sessions, CustomMetricRecomputation.Unit.Session);

        // The same sessions with users as units: a user's sessions of a group added; its windows are not available.
        AssertRecomputed(await dataset.ReportAsync("/analytics?experiment_id=cs&unit=user"), export, export.Sessions, CustomMetricRecomputation.Unit.User);
    }

    [Fact]
    public async Task Users_as_units_every_custom_figure_equals_the_recomputation_from_the_export()
    {
        var export = await dataset.ExportAsync("cu");
        var report = await dataset.ReportAsync("/analytics?experiment_id=cu");
        Assert.Equal("user", report.GetProperty("unit").GetString());
        Assert.All(report.GetProperty("groups").EnumerateArray(), g => Assert.True(g.GetProperty("units").GetInt64() >= 10_000, "at least 10,000 users per group"));
        Assert.Contains(export.Sessions.GroupBy(s => s.User), u => u.Count() == 3);
        AssertRecomputed(report, export, export.Sessions, CustomMetricRecomputation.Unit.User);

        // Sessions as units of a user experiment: retention and the windows (which count from the user's exposure) are
        // unavailable, every other figure is the sessions'.
        AssertRecomputed(await dataset.ReportAsync("/analytics?experiment_id=cu&unit=session"), export, export.Sessions, CustomMetricRecomputation.Unit.Session);
    }

    [Fact]
    public async Task A_group_filter_reports_that_group_against_the_baseline_as_recomputed()
    {
        foreach (var (experiment, unit) in new[] { ("cs", CustomMetricRecomputation.Unit.Session), ("cu", CustomMetricRecomputation.Unit.User) })
        {
            var export = await dataset.ExportAsync(experiment);
            var report = await dataset.ReportAsync($"/analytics?experiment_id={experiment}&model_group=B");
            Assert.Equal(["B"], report.GetProperty("groups").EnumerateArray().Select(g => g.GetProperty("model_group").GetString()));
            AssertRecomputed(report, export, export.Sessions, unit);
        }
    }

    [Fact]
    public async Task A_time_window_reports_the_sessions_starting_in_it_as_recomputed()
    {
        foreach (var experiment in new[] { "cs", "cu" })
        {
            var export = await dataset.ExportAsync(experiment);

            // From a quarter of the starts (inside an hour) to seven eighths: whole hours in between come from the
            // hourly aggregates, the partial hours at both ends from the sessions.
            var starts = export.Sessions.Select(s => s.StartMs).Order().ToList();
            var (from, to) = (starts[starts.Count / 4], starts[starts.Count * 7 / 8]);
            var window = export.Sessions.Where(s => s.StartMs >= from && s.StartMs < to).ToList();
            Assert.True(window.Select(s => s.StartMs / 3_600_000).Distinct().Count() >= 3, "the window spans several hours");
            var fromText = Uri.EscapeDataString(DateTimeOffset.FromUnixTimeMilliseconds(from).ToString("O", CultureInfo.InvariantCulture));
            foreach (var unit in new[] { CustomMetricRecomputation.Unit.User, CustomMetricRecomputation.Unit.Session })
            {
                var report = await dataset.ReportAsync($"/analytics?experiment_id={experiment}&from={fromText}&to={to}&unit={unit.ToString().ToLowerInvariant()}");
                Assert.Equal(window.Count, report.GetProperty("groups").EnumerateArray().Sum(g => g.GetProperty("sessions").GetInt64()));

                // Retention: docs/custom-metrics.md keeps only users exposed ToDay + 1 days before the report's end; that
                // eligibility is not built yet, so a window ending a day after the exposures is not compared here.
                AssertRecomputed(report, export, window, unit, skip: ["day1_retention"]);
            }
        }
    }

    [Fact]
    public async Task Metrics_list_every_custom_metric_complete_with_its_figures_and_the_prices()
    {
        using var response = await dataset.Client.GetAsync("/analytics/metrics");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        var custom = body.GetProperty("metrics").EnumerateArray().Where(m => m.GetProperty("kind").GetString() != "builtin").ToList();
        Assert.Equal(
            CustomMetricDataset.Settings.Keys.Where(k => k.StartsWith("Analytics:Metrics:", StringComparison.Ordinal)).Select(k => k.Split(':')[2]).Append("cost").Distinct().Order(StringComparer.Ordinal),
            custom.Select(m => m.GetProperty("name").GetString()!).Order(StringComparer.Ordinal));
        Assert.All(custom, m => Assert.Equal("complete", m.GetProperty("state").GetString()));
        Assert.Equal(
            ["answer_funnel:step_1", "answer_funnel:step_2", "answer_funnel:step_3"],
            custom.Single(m => m.GetProperty("name").GetString() == "answer_funnel").GetProperty("figures").EnumerateArray().Select(f => f.GetString()));
        Assert.Equal(["user"], custom.Single(m => m.GetProperty("name").GetString() == "day1_retention").GetProperty("units").EnumerateArray().Select(u => u.GetString()));
        Assert.Equal(
            ["claude-sonnet-4:3:15", "gpt-4o:2.5:10"],
            body.GetProperty("prices").EnumerateArray().Select(p => string.Create(CultureInfo.InvariantCulture, $"{p.GetProperty("model").GetString()}:{p.GetProperty("input_per_million").GetDouble()}:{p.GetProperty("output_per_million").GetDouble()}")).Order(StringComparer.Ordinal));
    }

    private static void AssertRecomputed(JsonElement report, CustomMetricRecomputation.Export export, IReadOnlyList<CustomMetricRecomputation.Session> scope, CustomMetricRecomputation.Unit unit, string[]? skip = null)
    {
        var failures = new List<string>();
        CustomMetricRecomputation.AssertReport(report, export, scope, unit, skip ?? [], (ok, message) =>
        {
            if (!ok)
            {
                failures.Add(message);
            }
        });
        Assert.True(failures.Count == 0, $"{failures.Count} differences:\n" + string.Join("\n", failures.Take(40)));
    }
}

/// <summary>
/// The data of <see cref="CustomMetricRecomputationTests"/>, sent once through the public API of one gateway whose clock
/// (the service's <see cref="TimeProvider"/>) the fixture moves forward between phases: sessions start at +0, +90 min and
/// +25 h, and a later batch of some sessions arrives a phase after their start, so that one-hour windows and day-1
/// retention have events and sessions on both sides of their edges.
/// </summary>
public sealed class CustomMetricDataset : IAsyncLifetime
{
    /// <summary>The gateway's settings: the experiments, every kind of metric, and a price table.</summary>
    public static readonly IReadOnlyDictionary<string, string> Settings = new Dictionary<string, string>
    {
        ["Analytics:Experiments:cu:Split:A"] = "1",
        ["Analytics:Experiments:cu:Split:B"] = "1",
        ["Sessions:IdleTimeout"] = "30.00:00:00", // the clock jumps by a day: no session is ended for idling
        ["Analytics:Metrics:good_rating:Kind"] = "proportion",
        ["Analytics:Metrics:good_rating:EventType"] = "rating",
        ["Analytics:Metrics:good_rating:Where"] = "data.score >= 7",
        ["Analytics:Metrics:code_copies:Kind"] = "count",
        ["Analytics:Metrics:code_copies:EventType"] = "code_copied",
        ["Analytics:Metrics:revenue_capped:Kind"] = "sum",
        ["Analytics:Metrics:revenue_capped:EventType"] = "purchase",
        ["Analytics:Metrics:revenue_capped:Field"] = "data.amount",
        ["Analytics:Metrics:revenue_capped:CapValue"] = "200",
        ["Analytics:Metrics:revenue_p99:Kind"] = "sum",
        ["Analytics:Metrics:revenue_p99:EventType"] = "purchase",
        ["Analytics:Metrics:revenue_p99:Field"] = "data.amount",
        ["Analytics:Metrics:revenue_p99:CapPercentile"] = "0.99",
        ["Analytics:Metrics:purchase_per_event:Kind"] = "sum",
        ["Analytics:Metrics:purchase_per_event:EventType"] = "purchase",
        ["Analytics:Metrics:purchase_per_event:Field"] = "data.amount",
        ["Analytics:Metrics:purchase_per_event:PerEvent"] = "true",
        ["Analytics:Metrics:rating_mean:Kind"] = "mean",
        ["Analytics:Metrics:rating_mean:EventType"] = "rating",
        ["Analytics:Metrics:rating_mean:Field"] = "data.score",
        ["Analytics:Metrics:rating_mean:PerEvent"] = "true",
        ["Analytics:Metrics:rating_unit_mean:Kind"] = "mean",
        ["Analytics:Metrics:rating_unit_mean:EventType"] = "rating",
        ["Analytics:Metrics:rating_unit_mean:Field"] = "data.score",
        ["Analytics:Metrics:rating_unit_mean:CapPercentile"] = "0.9",
        ["Analytics:Metrics:regenerates:Kind"] = "count",
        ["Analytics:Metrics:regenerates:EventType"] = "regenerate",
        ["Analytics:Metrics:responses_n:Kind"] = "count",
        ["Analytics:Metrics:responses_n:EventType"] = "model_response",
        ["Analytics:Metrics:regenerate_rate:Kind"] = "ratio",
        ["Analytics:Metrics:regenerate_rate:Numerator"] = "regenerates",
        ["Analytics:Metrics:regenerate_rate:Denominator"] = "responses_n",
        ["Analytics:Metrics:regenerate_rate:HigherIsBetter"] = "false",
        ["Analytics:Metrics:rating_p90:Kind"] = "quantile",
        ["Analytics:Metrics:rating_p90:EventType"] = "rating",
        ["Analytics:Metrics:rating_p90:Field"] = "data.score",
        ["Analytics:Metrics:rating_p90:Quantile"] = "0.9",
        ["Analytics:Metrics:day1_retention:Kind"] = "retention",
        ["Analytics:Metrics:day1_retention:FromDay"] = "1",
        ["Analytics:Metrics:day1_retention:ToDay"] = "1",
        ["Analytics:Metrics:answer_funnel:Kind"] = "funnel",
        ["Analytics:Metrics:answer_funnel:Steps:0"] = "prompt",
        ["Analytics:Metrics:answer_funnel:Steps:1"] = "model_response where data.output_tokens >= 100",
        ["Analytics:Metrics:answer_funnel:Steps:2"] = "code_copied",
        ["Analytics:Metrics:task_done_1h:Kind"] = "proportion",
        ["Analytics:Metrics:task_done_1h:EventType"] = "task_completed",
        ["Analytics:Metrics:task_done_1h:WindowHours"] = "1",
        ["Analytics:Metrics:code_copies_1h:Kind"] = "count",
        ["Analytics:Metrics:code_copies_1h:EventType"] = "code_copied",
        ["Analytics:Metrics:code_copies_1h:WindowHours"] = "1",
        ["Analytics:Metrics:code_copies_1h:CapValue"] = "2",
        ["Analytics:Prices:gpt-4o:InputPerMillion"] = "2.5",
        ["Analytics:Prices:gpt-4o:OutputPerMillion"] = "10",
        ["Analytics:Prices:claude:Model"] = "claude-sonnet-4",
        ["Analytics:Prices:claude:InputPerMillion"] = "3",
        ["Analytics:Prices:claude:OutputPerMillion"] = "15",
    };

    /// <summary>The clock at each phase: sessions start in phases 0–2, a session's later batch arrives one phase after its start.</summary>
    private static readonly TimeSpan[] PhaseOffsets = [TimeSpan.Zero, TimeSpan.FromMinutes(90), TimeSpan.FromHours(25), TimeSpan.FromHours(26.5)];

    /// <summary>Reports are read two days after the first exposures: every user has had its day 1.</summary>
    private static readonly TimeSpan ReportOffset = TimeSpan.FromHours(50);

    private const int SessionExperimentSessions = 20_200;
    private const int UserExperimentUsers = 20_600;

    private readonly OffsetClock _clock = new();
    private readonly GatewayHost _factory;
    private readonly Dictionary<string, Task<CustomMetricRecomputation.Export>> _exports = [];
    private HttpClient _client = null!;

    public CustomMetricDataset()
    {
        _factory = new GatewayHost
        {
            Settings = Settings,
            TestServices = services => services.AddSingleton<TimeProvider>(_clock),
        };
    }

    public HttpClient Client => _client;

    public async Task InitializeAsync()
    {
        _client = _factory.CreateClient();
        _client.Timeout = TimeSpan.FromMinutes(5);
        await WaitForCompleteMetricsAsync();

        var random = new Random(20261207);
        var plans = new List<SessionPlan>();
        for (var i = 0; i < SessionExperimentSessions; i++)
        {
            var roll = random.NextDouble();
            plans.Add(new SessionPlan("cs", $"cs-user-{i % 13_000}", i % 2 == 0 ? "A" : "B", roll < 0.6 ? 0 : roll < 0.85 ? 1 : 2, random.Next(), Skew(random)));
        }

        for (var i = 0; i < UserExperimentUsers; i++)
        {
            var roll = random.NextDouble();
            int[] phases = roll < 0.7 ? [0] : roll < 0.8 ? [0, 1] : roll < 0.9 ? [0, 2] : [0, 1, 2];
            var skew = Skew(random);
            plans.AddRange(phases.Select(phase => new SessionPlan("cu", $"cu-user-{i}", null, phase, random.Next(), skew)));
        }

        var options = new ParallelOptions { MaxDegreeOfParallelism = 48 }; // concurrent appends share the writer's commits
        for (var phase = 0; phase < PhaseOffsets.Length; phase++)
        {
            _clock.Offset = PhaseOffsets[phase];
            var work = plans.Where(p => p.StartPhase == phase).Select(p => (Plan: p, Late: false))
                .Concat(plans.Where(p => p.HasLateBatch && p.StartPhase + 1 == phase).Select(p => (Plan: p, Late: true)))
                .ToList();
            await Parallel.ForEachAsync(work, options, async (w, ct) => await (w.Late ? SendLateBatchAsync(w.Plan, ct) : StartAsync(w.Plan, ct)));
        }

        _clock.Offset = ReportOffset;
    }

    public async Task DisposeAsync()
    {
        _client.Dispose();
        await _factory.DisposeAsync();
    }

    /// <summary>The JSONL export of one experiment, read once.</summary>
    public Task<CustomMetricRecomputation.Export> ExportAsync(string experiment)
    {
        lock (_exports)
        {
            if (!_exports.TryGetValue(experiment, out var export))
            {
                _exports[experiment] = export = Task.Run(async () =>
                    CustomMetricRecomputation.Parse(await _client.GetStringAsync($"/exports/sessions.jsonl?experiment_id={experiment}"), usersAreTheUnit: experiment == "cu"));
            }

            return export;
        }
    }

    public async Task<JsonElement> ReportAsync(string path)
    {
        using var response = await _client.GetAsync(path);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return Assert.Single((await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("experiments").EnumerateArray());
    }

    private async Task WaitForCompleteMetricsAsync()
    {
        for (var attempt = 0; attempt < 300; attempt++)
        {
            var body = await _client.GetFromJsonAsync<JsonElement>("/analytics/metrics");
            if (body.GetProperty("metrics").EnumerateArray().All(m => m.GetProperty("state").GetString() == "complete"))
            {
                return;
            }

            await Task.Delay(100);
        }

        throw new TimeoutException("The custom metrics of an empty store did not complete their backfill.");
    }

    /// <summary>A client clock off by up to ±20 minutes: the server moves the events' times onto its own clock.</summary>
    private static double Skew(Random random) => (random.NextDouble() - 0.5) * 40 * 60_000;

    private async Task StartAsync(SessionPlan plan, CancellationToken ct)
    {
        var start = new JsonObject { ["user_id"] = plan.User, ["experiment_id"] = plan.Experiment };
        if (plan.Group is not null)
        {
            start["model_group"] = plan.Group;
        }

        using (var started = await PostAsync("/session/start", start, ct))
        {
            Assert.Equal(HttpStatusCode.Created, started.StatusCode);
            var answer = await started.Content.ReadFromJsonAsync<JsonElement>(ct);
            plan.SessionId = answer.GetProperty("session_id").GetString();
            plan.AssignedGroup = answer.GetProperty("model_group").GetString();
        }

        var random = new Random(plan.Seed);
        if (random.Next(8) == 0)
        {
            return; // a session without events is a unit all the same
        }

        var treatment = plan.AssignedGroup == "B";
        var events = new List<JsonObject>();
        for (var pairs = 1 + random.Next(4); pairs > 0; pairs--)
        {
            events.Add(Event("prompt", new JsonObject { ["text"] = "q" }));
            events.Add(Event("model_response", Response(random)));
            if (random.NextDouble() < (treatment ? 0.1 : 0.18))
            {
                events.Add(Event("regenerate", new JsonObject()));
                events.Add(Event("model_response", Response(random)));
            }

            if (random.NextDouble() < 0.35)
            {
                events.Add(Event("code_copied", new JsonObject { ["chars"] = random.Next(10, 500) }));
            }
        }

        for (var i = random.Next(3); i > 0; i--)
        {
            events.Add(Event("rating", Rating(random, treatment)));
        }

        if (random.NextDouble() < 0.2)
        {
            for (var i = 1 + random.Next(2); i > 0; i--)
            {
                events.Add(Event("purchase", Purchase(random)));
            }
        }

        if (random.NextDouble() < (treatment ? 0.35 : 0.3))
        {
            events.Add(Event("task_completed", new JsonObject()));
        }

        if (random.Next(4) == 0)
        {
            events.Add(Event("click", new JsonObject()));
        }

        await SendAsync(plan, events, random, maxAgeMs: 3 * 60_000, end: !plan.HasLateBatch && random.Next(2) == 0, ct);
    }

    /// <summary>A batch a phase after the session's start, its events up to 80 minutes old: some within an hour of the exposure, some after.</summary>
    private async Task SendLateBatchAsync(SessionPlan plan, CancellationToken ct)
    {
        var random = new Random(plan.Seed ^ 0x5eed);
        var treatment = plan.AssignedGroup == "B";
        var events = new List<JsonObject>();
        if (random.NextDouble() < (treatment ? 0.65 : 0.55))
        {
            events.Add(Event("task_completed", new JsonObject()));
        }

        if (random.NextDouble() < 0.3)
        {
            events.Add(Event("prompt", new JsonObject { ["text"] = "again" }));
            events.Add(Event("model_response", Response(random)));
        }

        for (var i = random.NextDouble() < 0.5 ? 1 + random.Next(2) : 0; i > 0; i--)
        {
            events.Add(Event("code_copied", new JsonObject()));
        }

        if (random.NextDouble() < 0.3)
        {
            events.Add(Event("purchase", Purchase(random)));
        }

        if (random.NextDouble() < 0.5)
        {
            events.Add(Event("rating", Rating(random, treatment)));
        }

        events.Add(Event("click", new JsonObject()));
        await SendAsync(plan, events, random, maxAgeMs: 80 * 60_000, end: random.Next(2) == 0, ct);
    }

    /// <summary>
    /// One batch: each event's <c>t</c> up to <paramref name="maxAgeMs"/> before the client's <c>sent_at</c> (one event in
    /// ten without a <c>t</c>: the receive time); a batch in thirty without <c>sent_at</c> (its times are taken as sent).
    /// </summary>
    private async Task SendAsync(SessionPlan plan, List<JsonObject> events, Random random, long maxAgeMs, bool end, CancellationToken ct)
    {
        var sentAt = _clock.GetUtcNow().ToUnixTimeMilliseconds() + (long)plan.ClientSkewMs;
        foreach (var e in events)
        {
            if (random.Next(10) != 0)
            {
                e["t"] = sentAt - (long)(random.NextDouble() * maxAgeMs);
            }
        }

        // Event ids make a resend after a 503 safe: the ids a first attempt stored are acknowledged as duplicates.
        for (var i = 0; i < events.Count; i++)
        {
            events[i]["id"] = $"{(maxAgeMs > 3_600_000 ? "late" : "first")}-{i}";
        }

        var body = new JsonObject { ["session_id"] = plan.SessionId, ["events"] = new JsonArray([.. events]), ["end"] = end };
        if (random.Next(30) != 0)
        {
            body["sent_at"] = sentAt;
        }

        using var appended = await PostAsync("/session/event", body, ct);
        Assert.Equal(HttpStatusCode.OK, appended.StatusCode);
    }

    /// <summary>A POST as the tracker sends it: a 503 (nothing acknowledged; a loaded machine's timeout) is retried.</summary>
    private async Task<HttpResponseMessage> PostAsync(string path, JsonObject body, CancellationToken ct)
    {
        var json = body.ToJsonString();
        for (var attempt = 1; ; attempt++)
        {
            using var content = new StringContent(json, Encoding.UTF8, "application/json");
            var response = await _client.PostAsync(path, content, ct);
            if (response.StatusCode != HttpStatusCode.ServiceUnavailable || attempt == 5)
            {
                return response;
            }

            response.Dispose();
            await Task.Delay(200 * attempt, ct);
        }
    }

    private static JsonObject Event(string type, JsonObject data) => new() { ["type"] = type, ["data"] = data };

    /// <summary>A response with a model (known, unknown, missing, not a string) and token counts (missing, strings, out of bounds).</summary>
    private static JsonObject Response(Random random)
    {
        var data = new JsonObject { ["text"] = "a" };
        var model = random.NextDouble();
        if (model < 0.9 || model >= 0.95)
        {
            data["model"] = model switch
            {
                < 0.45 => "gpt-4o",
                < 0.75 => "claude-sonnet-4",
                < 0.85 => "mystery-model",
                < 0.9 => "gpt-4o-mini",
                _ => JsonValue.Create(42),
            };
        }

        var input = random.NextDouble();
        if (input is < 0.85 or >= 0.92)
        {
            data["input_tokens"] = input switch
            {
                < 0.85 => JsonValue.Create(random.Next(10, 3000)),
                < 0.95 => JsonValue.Create("100"),
                < 0.97 => JsonValue.Create(2e8),
                _ => JsonValue.Create(-1),
            };
        }

        var output = random.NextDouble();
        if (output is < 0.85 or >= 0.95)
        {
            data["output_tokens"] = output switch
            {
                < 0.85 => JsonValue.Create(random.Next(1, 2000)),
                < 0.97 => JsonValue.Create(1e9),
                _ => JsonValue.Create(12.5),
            };
        }

        return data;
    }

    /// <summary>A score: mostly a number from 0 to 10, else a string, missing, null, beyond 10¹², a boolean.</summary>
    private static JsonObject Rating(Random random, bool treatment)
    {
        var roll = random.NextDouble();
        return roll switch
        {
            < 0.8 => new JsonObject { ["score"] = Math.Round(Math.Min(10, (random.NextDouble() * 10) + (treatment ? 0.4 : 0)), 2) },
            < 0.85 => new JsonObject { ["score"] = "7" },
            < 0.89 => new JsonObject { ["comment"] = "no score" },
            < 0.92 => new JsonObject { ["score"] = null },
            < 0.94 => new JsonObject { ["score"] = 5e12 },
            < 0.96 => new JsonObject { ["score"] = -3e12 },
            < 0.98 => new JsonObject { ["score"] = true },
            _ => new JsonObject { ["score"] = 10 },
        };
    }

    /// <summary>An amount with a heavy tail (log-normal, some Pareto), refunds, and amounts missing, not numbers or beyond 10¹².</summary>
    private static JsonObject Purchase(Random random)
    {
        var roll = random.NextDouble();
        var normal = Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
        return roll switch
        {
            < 0.88 => new JsonObject { ["amount"] = Math.Round(Math.Exp(3 + (1.2 * normal)), 2) },
            < 0.93 => new JsonObject { ["amount"] = Math.Round(50 / Math.Pow(1 - random.NextDouble(), 1.2), 2) },
            < 0.96 => new JsonObject { ["currency"] = "EUR" },
            < 0.98 => new JsonObject { ["amount"] = "10" },
            < 0.99 => new JsonObject { ["amount"] = 2e12 },
            _ => new JsonObject { ["amount"] = -20.5 },
        };
    }

    private sealed record SessionPlan(string Experiment, string User, string? Group, int StartPhase, int Seed, double ClientSkewMs)
    {
        public bool HasLateBatch { get; } = StartPhase < 3 && new Random(Seed).Next(100) < 25;

        public string? SessionId { get; set; }

        public string? AssignedGroup { get; set; }
    }

    /// <summary>The service's clock: the real one moved forward by <see cref="Offset"/> (timers and timestamps stay real).</summary>
    private sealed class OffsetClock : TimeProvider
    {
        private long _offsetTicks;

        public TimeSpan Offset
        {
            get => TimeSpan.FromTicks(Interlocked.Read(ref _offsetTicks));
            set => Interlocked.Exchange(ref _offsetTicks, value.Ticks);
        }

        public override DateTimeOffset GetUtcNow() => TimeProvider.System.GetUtcNow() + Offset;
    }
}

/// <summary>
/// The custom metrics of <see cref="CustomMetricDataset"/> recomputed from the JSONL export with plain code: each
/// session's events (in seq order, with their <c>corrected_t</c>) folded by the formulas of docs/custom-metrics.md, a
/// user's sessions added, unit values, ratios of sums with the delta-method variance (two passes), exact percentiles.
/// </summary>
public static class CustomMetricRecomputation
{
    private const double Z95 = 1.959963984540054;
    private const long HourMs = 3_600_000;
    private const long DayMs = 86_400_000;
    private const double MaxMagnitude = 1e12;
    private const double MaxTokens = 1e8;

    private static readonly Dictionary<string, (double Input, double Output)> Prices = new(StringComparer.Ordinal)
    {
        ["gpt-4o"] = (2.5, 10),
        ["claude-sonnet-4"] = (3, 15),
    };

    public enum Unit
    {
        Session,
        User,
    }

    /// <summary>What a figure is, as the test defines it: its metric, kind, counts, and what its value depends on.</summary>
    private sealed record Figure(
        string Name, string Metric, string Kind, bool Share = false, string Counts = "none", double? CapPercentile = null,
        double? Quantile = null, bool Retention = false, bool Windowed = false, int? Step = null, bool HigherIsBetter = true);

    private static readonly Figure[] Figures =
    [
        new("good_rating", "good_rating", "proportion", Share: true, Counts: "events"),
        new("code_copies", "code_copies", "count", Counts: "events"),
        new("revenue_capped", "revenue_capped", "sum", Counts: "values"),
        new("revenue_p99", "revenue_p99", "sum", Counts: "values", CapPercentile: 0.99),
        new("purchase_per_event", "purchase_per_event", "sum", Counts: "values"),
        new("rating_mean", "rating_mean", "mean", Counts: "values"),
        new("rating_unit_mean", "rating_unit_mean", "mean", Counts: "values", CapPercentile: 0.9),
        new("regenerates", "regenerates", "count", Counts: "events"),
        new("responses_n", "responses_n", "count", Counts: "events"),
        new("regenerate_rate", "regenerate_rate", "ratio", HigherIsBetter: false),
        new("rating_p90", "rating_p90", "quantile", Counts: "values", Quantile: 0.9),
        new("day1_retention", "day1_retention", "retention", Share: true, Retention: true),
        new("answer_funnel:step_1", "answer_funnel", "funnel", Share: true, Step: 1),
        new("answer_funnel:step_2", "answer_funnel", "funnel", Share: true, Step: 2),
        new("answer_funnel:step_3", "answer_funnel", "funnel", Share: true, Step: 3),
        new("task_done_1h", "task_done_1h", "proportion", Share: true, Counts: "events", Windowed: true),
        new("code_copies_1h", "code_copies_1h", "count", Counts: "events", Windowed: true),
        new("cost_per_response", "cost", "cost", Counts: "cost", HigherIsBetter: false),
        new("cost_per_unit", "cost", "cost", Counts: "cost", HigherIsBetter: false),
    ];

    private static readonly string[] ValueCounts = ["events", "values", "missing", "ignored", "excluded"];
    private static readonly string[] CostCounts = ["responses", "priced", "unpriced", "excluded"];

    public sealed record Event(long Seq, string Type, JsonElement Data, long CorrectedT);

    /// <summary>An exported session and its row of sums, folded with its unit's exposure (the experiment's configured unit).</summary>
    public sealed record Session(string Id, string User, string Group, long StartMs, IReadOnlyList<Event> Events)
    {
        public Row Row { get; set; } = new();
    }

    /// <summary>Every session of one experiment, and the unit the experiment is configured with.</summary>
    public sealed record Export(IReadOnlyList<Session> Sessions, Unit ConfiguredUnit);

    /// <summary>A unit's sums by "metric.column", and its quantile metric's values.</summary>
    public sealed class Row
    {
        public Dictionary<string, double> Sums { get; } = new(StringComparer.Ordinal);

        public List<double> Scores { get; } = [];

        public double this[string key] => Sums.GetValueOrDefault(key);

        public void Add(string key, double by = 1) => Sums[key] = Sums.GetValueOrDefault(key) + by;

        public static Row Sum(IEnumerable<Row> rows)
        {
            var total = new Row();
            foreach (var row in rows)
            {
                foreach (var (key, value) in row.Sums)
                {
                    total.Add(key, value);
                }

                total.Scores.AddRange(row.Scores);
            }

            return total;
        }
    }

    public static Export Parse(string jsonl, bool usersAreTheUnit)
    {
        var sessions = new List<Session>();
        foreach (var line in jsonl.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var d = JsonDocument.Parse(line).RootElement; // kept: the events' data point into it
            var events = d.GetProperty("events").EnumerateArray()
                .Select(e => new Event(e.GetProperty("seq").GetInt64(), e.GetProperty("type").GetString()!, e.GetProperty("data"), e.GetProperty("corrected_t").GetInt64()))
                .OrderBy(e => e.Seq)
                .ToList();
            var start = DateTimeOffset.Parse(d.GetProperty("start_time").GetString()!, CultureInfo.InvariantCulture).ToUnixTimeMilliseconds();
            sessions.Add(new Session(d.GetProperty("session_id").GetString()!, d.GetProperty("user_id").GetString()!, d.GetProperty("model_group").GetString()!, start, events));
        }

        // The exposure: the session's own start, or the user's first session of the experiment (by start time).
        var firstStart = sessions.GroupBy(s => s.User).ToDictionary(u => u.Key, u => u.Min(s => s.StartMs), StringComparer.Ordinal);
        foreach (var session in sessions)
        {
            session.Row = Fold(session, usersAreTheUnit ? firstStart[session.User] : session.StartMs);
        }

        return new Export(sessions, usersAreTheUnit ? Unit.User : Unit.Session);
    }

    /// <summary>One session's sums, from its events in seq order.</summary>
    private static Row Fold(Session session, long exposureMs)
    {
        var row = new Row();
        if (Math.Floor((session.StartMs - exposureMs) / (double)DayMs) == 1)
        {
            row.Add("day1_retention.sessions");
        }

        var funnel = 0;
        foreach (var e in session.Events)
        {
            var withinHour = e.CorrectedT - exposureMs < HourMs;
            switch (e.Type)
            {
                case "rating":
                    if (Number(e.Data, "score") is >= 7)
                    {
                        row.Add("good_rating.events");
                    }

                    if (Value(row, ["rating_mean", "rating_unit_mean", "rating_p90"], e.Data, "score") is { } score)
                    {
                        row.Scores.Add(score);
                    }

                    break;
                case "purchase":
                    Value(row, ["revenue_capped", "revenue_p99", "purchase_per_event"], e.Data, "amount");
                    break;
                case "code_copied":
                    row.Add("code_copies.events");
                    if (withinHour)
                    {
                        row.Add("code_copies_1h.events");
                    }

                    break;
                case "regenerate":
                    row.Add("regenerates.events");
                    break;
                case "model_response":
                    row.Add("responses_n.events");
                    Cost(row, e.Data);
                    break;
                case "task_completed":
                    if (withinHour)
                    {
                        row.Add("task_done_1h.events");
                    }

                    break;
            }

            // One step further at most per event: prompt → model_response with output_tokens ≥ 100 → code_copied.
            var next = funnel switch
            {
                0 => e.Type == "prompt",
                1 => e.Type == "model_response" && Number(e.Data, "output_tokens") is >= 100,
                2 => e.Type == "code_copied",
                _ => false,
            };
            if (next)
            {
                row.Add($"answer_funnel.step_{++funnel}");
            }
        }

        return row;
    }

    /// <summary>A JSON number field for a condition: any magnitude (conditions apply no bounds); null when missing or not a number.</summary>
    private static double? Number(JsonElement data, string field) =>
        data.ValueKind == JsonValueKind.Object && data.TryGetProperty(field, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble() : null;

    /// <summary>A numeric field of sum, mean and quantile metrics: a value, or missing, ignored (not a number), excluded (beyond 10¹²).</summary>
    private static double? Value(Row row, string[] metrics, JsonElement data, string field)
    {
        string outcome;
        double? value = null;
        if (data.ValueKind != JsonValueKind.Object || !data.TryGetProperty(field, out var element))
        {
            outcome = "missing";
        }
        else if (element.ValueKind != JsonValueKind.Number)
        {
            outcome = "ignored";
        }
        else
        {
            var number = element.GetDouble();
            (outcome, value) = double.IsFinite(number) && Math.Abs(number) <= MaxMagnitude ? ("values", (double?)number) : ("excluded", null);
        }

        foreach (var metric in metrics)
        {
            row.Add($"{metric}.events");
            row.Add($"{metric}.{outcome}");
            if (value is { } v)
            {
                row.Add($"{metric}.sum", v);
            }
        }

        return value;
    }

    /// <summary>Cost of a response from the price table (docs/custom-metrics.md, "Cost").</summary>
    private static void Cost(Row row, JsonElement data)
    {
        row.Add("cost.responses");
        var (input, inputTokens) = Tokens(data, "input_tokens");
        var (output, outputTokens) = Tokens(data, "output_tokens");
        if (input == "out of bounds" || output == "out of bounds")
        {
            row.Add("cost.excluded");
            row.Add("cost.unpriced");
            return;
        }

        var model = data.TryGetProperty("model", out var m) && m.ValueKind == JsonValueKind.String ? m.GetString() : null;
        if (model is null || !Prices.TryGetValue(model, out var price) || input == "not a number" || output == "not a number" || (input == "missing" && output == "missing"))
        {
            row.Add("cost.unpriced");
            return;
        }

        row.Add("cost.priced");
        row.Add("cost.cost", ((inputTokens * price.Input) + (outputTokens * price.Output)) / 1e6);
    }

    private static (string State, double Value) Tokens(JsonElement data, string field)
    {
        if (!data.TryGetProperty(field, out var element))
        {
            return ("missing", 0);
        }

        if (element.ValueKind != JsonValueKind.Number)
        {
            return ("not a number", 0);
        }

        var value = element.GetDouble();
        return value is >= 0 and <= MaxTokens ? ("valid", value) : ("out of bounds", 0);
    }

    /// <summary>Checks every custom figure and custom comparison of one served experiment report against the sessions it covers.</summary>
    public static void AssertReport(JsonElement report, Export export, IReadOnlyList<Session> scope, Unit unit, IReadOnlyCollection<string> skip, Action<bool, string> check)
    {
        var experiment = report.GetProperty("experiment_id").GetString();
        var groups = scope.GroupBy(s => s.Group).ToDictionary(
            g => g.Key,
            g => unit == Unit.User ? g.GroupBy(s => s.User).Select(u => Row.Sum(u.Select(s => s.Row))).ToList() : g.Select(s => s.Row).ToList());

        // Caps at a percentile: over the units of every group of the experiment (in the report's window), uncapped.
        var everyUnit = groups.Values.SelectMany(u => u).ToList();
        var caps = new Dictionary<string, double>
        {
            ["revenue_p99"] = Percentile([.. everyUnit.Select(u => u["revenue_p99.sum"])], 0.99),
            ["rating_unit_mean"] = Percentile([.. everyUnit.Where(u => u["rating_unit_mean.values"] > 0).Select(u => u["rating_unit_mean.sum"] / u["rating_unit_mean.values"])], 0.9),
        };

        string StateOf(Figure f) =>
            f.Retention && !(unit == Unit.User && export.ConfiguredUnit == Unit.User) ? "unavailable"
            : f.Windowed && unit != export.ConfiguredUnit ? "unavailable"
            : "complete";

        var expected = groups.ToDictionary(g => g.Key, g => Figures.ToDictionary(f => f.Name, f => Expect(f, g.Value, caps)));
        foreach (var served in report.GetProperty("groups").EnumerateArray())
        {
            var group = served.GetProperty("model_group").GetString()!;
            var units = groups[group];
            var figures = served.GetProperty("custom_metrics").EnumerateArray().ToDictionary(f => f.GetProperty("name").GetString()!);
            check(figures.Count == Figures.Length, $"{experiment}/{group}: {figures.Count} custom figures served, {Figures.Length} expected ({string.Join(", ", figures.Keys)})");
            foreach (var figure in Figures.Where(f => !skip.Contains(f.Name)))
            {
                var where = $"{experiment}/{group}/{unit} {figure.Name}";
                if (!figures.TryGetValue(figure.Name, out var s))
                {
                    check(false, $"{where}: not served");
                    continue;
                }

                check(s.GetProperty("metric").GetString() == figure.Metric && s.GetProperty("kind").GetString() == figure.Kind, $"{where}: metric {s.GetProperty("metric")}, kind {s.GetProperty("kind")}");
                var state = StateOf(figure);
                check(s.GetProperty("state").GetString() == state, $"{where}: state {s.GetProperty("state")}, expected {state} ({s.GetProperty("note")})");
                if (state != "complete")
                {
                    check(s.GetProperty("value").ValueKind == JsonValueKind.Null, $"{where}: an unavailable figure has a value {s.GetProperty("value")}");
                    continue;
                }

                var e = expected[group][figure.Name];
                AssertCounts(s.GetProperty("counts"), CountsOf(figure, units), where, check);
                if (figure.Quantile is { } q)
                {
                    var exact = Percentile([.. units.SelectMany(u => u.Scores)], q);
                    var value = s.GetProperty("value");
                    check(value.ValueKind == JsonValueKind.Number && Math.Abs(value.GetDouble() - exact) <= (0.01 * Math.Abs(exact)) + 1e-9, $"{where}: served {value}, exact p{q * 100} {exact} (more than 1 % apart)");
                    // Its outer interval (QuantileIntervalTests checks the method): around the value, served as numbers.
                    check(
                        s.GetProperty("low").ValueKind == JsonValueKind.Number && s.GetProperty("high").ValueKind == JsonValueKind.Number
                        && s.GetProperty("low").GetDouble() <= value.GetDouble() && value.GetDouble() <= s.GetProperty("high").GetDouble(),
                        $"{where}: the outer interval [{s.GetProperty("low")}, {s.GetProperty("high")}] holds the value {value}");
                    check(s.GetProperty("units").GetInt64() == units.Count, $"{where}: units {s.GetProperty("units")}, recomputed {units.Count}");
                    continue;
                }

                var tolerance = figure.CapPercentile is null ? 1e-9 : 0.02;
                check(s.GetProperty("units").GetInt64() == units.Count, $"{where}: units {s.GetProperty("units")}, recomputed {units.Count}");
                Close(s, "numerator", e.SumY, tolerance, where, check);
                Close(s, "denominator", e.SumX, 1e-9, where, check);
                Close(s, "value", e.Value, tolerance, where, check);
                Bound(s, "low", e.Low, e, figure, where, check);
                Bound(s, "high", e.High, e, figure, where, check);
                if (figure.CapPercentile is not null)
                {
                    Close(s, "cap", caps[figure.Metric], 0.01, where, check);
                }
                else
                {
                    check(s.GetProperty("cap").ValueKind == JsonValueKind.Null, $"{where}: cap {s.GetProperty("cap")} on a figure without a cap at a percentile");
                }

                if (figure.Step is { } step)
                {
                    var conversion = Ratio([.. units.Select(u => (Reached(u, step), Reached(u, step - 1)))]);
                    var served2 = s.GetProperty("conversion");
                    Close(served2, "value", conversion.Value, 1e-9, where + " conversion", check);
                    Bound(served2, "low", Clip(conversion.Value - (Z95 * Sqrt(conversion.Variance))), conversion, figure, where + " conversion", check);
                    Bound(served2, "high", Clip(conversion.Value + (Z95 * Sqrt(conversion.Variance))), conversion, figure, where + " conversion", check);
                }
            }
        }

        AssertComparisons(report, expected, StateOf, skip, check);
    }

    /// <summary>
    /// Each custom comparison: baseline and treatment values, their difference, the Welch interval and z (exact figures);
    /// and the adjusted p-values of the report recomputed over one family of every comparison, built-in and custom.
    /// </summary>
    private static void AssertComparisons(JsonElement report, Dictionary<string, Dictionary<string, Expected>> expected, Func<Figure, string> stateOf, IReadOnlyCollection<string> skip, Action<bool, string> check)
    {
        var baseline = report.GetProperty("baseline").GetString()!;
        var differences = new List<JsonElement>();
        var comparisons = report.GetProperty("comparisons").EnumerateArray().ToList();
        check(comparisons.Count == report.GetProperty("groups").EnumerateArray().Count(g => g.GetProperty("model_group").GetString() != baseline), "one comparison per shown group but the baseline");
        foreach (var comparison in comparisons)
        {
            var treatment = comparison.GetProperty("treatment").GetString()!;
            foreach (var builtIn in new[] { "up_rate", "latency_ms", "duration_ms", "prompts_per_session", "errors_per_session", "stopped_rate" })
            {
                if (comparison.TryGetProperty(builtIn, out var d) && d.ValueKind == JsonValueKind.Object)
                {
                    differences.Add(d);
                }
            }

            var custom = comparison.GetProperty("custom_metrics").EnumerateArray().ToDictionary(c => c.GetProperty("name").GetString()!);
            // Every complete figure has a test, quantiles included (their variance from the outer interval).
            var compared = Figures.Where(f => stateOf(f) == "complete").Select(f => f.Name).ToList();
            check(custom.Keys.Order(StringComparer.Ordinal).SequenceEqual(compared.Order(StringComparer.Ordinal)), $"{treatment} vs {baseline}: compared {string.Join(", ", custom.Keys)}; expected {string.Join(", ", compared)}");
            foreach (var figure in Figures.Where(f => custom.ContainsKey(f.Name)))
            {
                var c = custom[figure.Name];
                var d = c.GetProperty("difference");
                differences.Add(d);

                // A quantile's difference rests on its outer interval, which QuantileIntervalTests checks; here only
                // its place in the family of adjusted p-values.
                if (skip.Contains(figure.Name) || figure.Quantile is not null)
                {
                    continue;
                }

                var where = $"{treatment} vs {baseline} {figure.Name}";
                check(c.GetProperty("higher_is_better").GetBoolean() == figure.HigherIsBetter, $"{where}: higher_is_better");
                var (b, t) = (expected[baseline][figure.Name], expected[treatment][figure.Name]);
                var tolerance = figure.CapPercentile is null ? 1e-9 : 0.02;
                Close(d, "baseline_value", b.Value, tolerance, where, check);
                Close(d, "treatment_value", t.Value, tolerance, where, check);
                var scale = Math.Max(Math.Abs(b.Value ?? 0), Math.Abs(t.Value ?? 0));
                var difference = t.Value - b.Value;
                check(d.GetProperty("value").ValueKind == JsonValueKind.Number && Math.Abs(d.GetProperty("value").GetDouble() - difference!.Value) <= (tolerance * Math.Max(1e-300, scale)) + 1e-12, $"{where}: difference {d.GetProperty("value")}, recomputed {difference}");
                if (figure.CapPercentile is null && b.Variance is { } vb && t.Variance is { } vt && vb + vt > 0)
                {
                    var se = Math.Sqrt(vb + vt);
                    Close(d, "low", difference - (Z95 * se), 1e-6 * se / Math.Max(1e-300, Math.Abs(difference!.Value - (Z95 * se))), where, check);
                    Close(d, "high", difference + (Z95 * se), 1e-6 * se / Math.Max(1e-300, Math.Abs(difference!.Value + (Z95 * se))), where, check);
                    Close(d, "z", difference / se, 1e-6, where, check);
                }

                var p = d.GetProperty("p_value");
                var adjusted = d.GetProperty("holm_p_value");
                check(p.ValueKind != JsonValueKind.Number || (adjusted.ValueKind == JsonValueKind.Number && adjusted.GetDouble() >= p.GetDouble()), $"{where}: holm {adjusted} below p {p}");
            }
        }

        // One family: Holm and Benjamini–Hochberg over every fixed-horizon p-value of the report.
        var ps = differences.Select(d => d.GetProperty("p_value") is { ValueKind: JsonValueKind.Number } p ? p.GetDouble() : (double?)null).ToList();
        var order = ps.Select((p, i) => (P: p, I: i)).Where(x => x.P is not null).OrderBy(x => x.P).ToList();
        var m = order.Count;
        check(m > 6 * comparisons.Count, $"custom comparisons have p-values in the family ({m})");
        var holm = new double?[ps.Count];
        var running = 0.0;
        for (var k = 0; k < m; k++)
        {
            running = Math.Max(running, Math.Min(1, (m - k) * order[k].P!.Value));
            holm[order[k].I] = running;
        }

        var bh = new double?[ps.Count];
        running = 1.0;
        for (var k = m - 1; k >= 0; k--)
        {
            running = Math.Min(running, Math.Min(1, m * order[k].P!.Value / (k + 1)));
            bh[order[k].I] = running;
        }

        for (var i = 0; i < differences.Count; i++)
        {
            Close(differences[i], "holm_p_value", holm[i], 1e-12, $"family member {i}", check);
            Close(differences[i], "benjamini_hochberg_p_value", bh[i], 1e-12, $"family member {i}", check);
        }
    }

    private sealed record Expected(double? Value, double? Variance, double? Low, double? High, double SumY, double SumX);

    private static Expected Expect(Figure figure, IReadOnlyList<Row> units, IReadOnlyDictionary<string, double> caps)
    {
        if (figure.Quantile is not null)
        {
            return new Expected(null, null, null, null, 0, 0);
        }

        var ratio = Ratio([.. units.Select(u => Pair(figure, u, caps))]);
        var half = Z95 * Sqrt(ratio.Variance);
        var (low, high) = (ratio.Value - half, ratio.Value + half);
        return figure.Share ? new Expected(ratio.Value, ratio.Variance, Clip(low), Clip(high), ratio.SumY, ratio.SumX) : new Expected(ratio.Value, ratio.Variance, low, high, ratio.SumY, ratio.SumX);
    }

    /// <summary>A unit's (numerator, denominator) of a figure (docs/custom-metrics.md, "Formulas").</summary>
    private static (double Y, double X) Pair(Figure figure, Row u, IReadOnlyDictionary<string, double> caps) => figure.Name switch
    {
        "good_rating" => (u["good_rating.events"] > 0 ? 1 : 0, 1),
        "code_copies" or "regenerates" or "responses_n" => (u[figure.Metric + ".events"], 1),
        "revenue_capped" => (Math.Min(u["revenue_capped.sum"], 200), 1),
        "revenue_p99" => (Math.Min(u["revenue_p99.sum"], caps["revenue_p99"]), 1),
        "purchase_per_event" => (u["purchase_per_event.sum"], u["purchase_per_event.events"]),
        "rating_mean" => (u["rating_mean.sum"], u["rating_mean.values"]),
        "rating_unit_mean" => u["rating_unit_mean.values"] > 0 ? (Math.Min(u["rating_unit_mean.sum"] / u["rating_unit_mean.values"], caps["rating_unit_mean"]), 1) : (0, 0),
        "regenerate_rate" => (u["regenerates.events"], u["responses_n.events"]),
        "day1_retention" => (u["day1_retention.sessions"] > 0 ? 1 : 0, 1),
        "task_done_1h" => (u["task_done_1h.events"] > 0 ? 1 : 0, 1),
        "code_copies_1h" => (Math.Min(u["code_copies_1h.events"], 2), 1),
        "cost_per_response" => (u["cost.cost"], u["cost.priced"]),
        "cost_per_unit" => (u["cost.cost"], 1),
        _ when figure.Step is { } step => (Reached(u, step), 1),
        _ => throw new ArgumentException(figure.Name),
    };

    private static double Reached(Row u, int step) => step == 0 || u[$"answer_funnel.step_{step}"] > 0 ? 1 : 0;

    private static Dictionary<string, long> CountsOf(Figure figure, IReadOnlyList<Row> units)
    {
        var columns = figure.Counts switch
        {
            "events" => ["events"],
            "values" => ValueCounts,
            "cost" => CostCounts,
            _ => Array.Empty<string>(),
        };
        return columns.ToDictionary(c => c, c => (long)units.Sum(u => u[$"{figure.Metric}.{c}"]), StringComparer.Ordinal);
    }

    private static void AssertCounts(JsonElement served, Dictionary<string, long> expected, string where, Action<bool, string> check)
    {
        var actual = served.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetInt64(), StringComparer.Ordinal);
        check(
            actual.Count == expected.Count && expected.All(e => actual.GetValueOrDefault(e.Key, -1) == e.Value),
            $"{where}: counts {string.Join(", ", actual.Select(a => $"{a.Key}={a.Value}"))}; recomputed {string.Join(", ", expected.Select(a => $"{a.Key}={a.Value}"))}");
    }

    /// <summary>R = Σy ÷ Σx over the units with the delta-method variance from centred sums (two passes), as docs/analytics.md.</summary>
    private static (double? Value, double? Variance, double SumY, double SumX) Ratio(IReadOnlyList<(double Y, double X)> pairs)
    {
        var n = pairs.Count;
        var sx = pairs.Sum(p => p.X);
        var sy = pairs.Sum(p => p.Y);
        if (n == 0 || sx == 0)
        {
            return (null, null, sy, sx);
        }

        var r = sy / sx;
        if (n < 2)
        {
            return (r, null, sy, sx);
        }

        var (mx, my) = (sx / n, sy / n);
        double sxx = 0, syy = 0, sxy = 0;
        foreach (var (y, x) in pairs)
        {
            sxx += (x - mx) * (x - mx);
            syy += (y - my) * (y - my);
            sxy += (x - mx) * (y - my);
        }

        (sxx, syy, sxy) = (sxx / (n - 1), syy / (n - 1), sxy / (n - 1));
        return (r, Math.Max(0, (syy - (2 * r * sxy) + (r * r * sxx)) / (n * mx * mx)), sy, sx);
    }

    /// <summary>numpy's default percentile: linear interpolation at rank (n − 1)p of the sorted values.</summary>
    private static double Percentile(List<double> values, double p)
    {
        values.Sort();
        var h = (values.Count - 1) * p;
        var lo = (int)Math.Floor(h);
        var hi = Math.Min(lo + 1, values.Count - 1);
        return values[lo] + ((h - lo) * (values[hi] - values[lo]));
    }

    private static double? Sqrt(double? variance) => variance is { } v ? Math.Sqrt(v) : null;

    private static double? Clip(double? value) => value is { } v ? Math.Clamp(v, 0, 1) : null;

    private static void Close(JsonElement element, string field, double? expected, double relative, string where, Action<bool, string> check)
    {
        var actual = element.GetProperty(field);
        if (expected is not { } e)
        {
            check(actual.ValueKind == JsonValueKind.Null, $"{where} {field}: served {actual}, recomputed null");
            return;
        }

        check(actual.ValueKind == JsonValueKind.Number && Math.Abs(actual.GetDouble() - e) <= (relative * Math.Abs(e)) + 1e-12, $"{where} {field}: served {actual}, recomputed {e}");
    }

    /// <summary>An interval's end: within a millionth of the half-width (2 % of the value or the end with a percentile cap).</summary>
    private static void Bound(JsonElement element, string field, double? expected, Expected e, Figure figure, string where, Action<bool, string> check) =>
        Bound(element, field, expected, (e.Value, e.Variance, e.SumY, e.SumX), figure, where, check);

    private static void Bound(JsonElement element, string field, double? expected, (double? Value, double? Variance, double SumY, double SumX) ratio, Figure figure, string where, Action<bool, string> check)
    {
        var actual = element.GetProperty(field);
        if (expected is not { } e)
        {
            check(actual.ValueKind == JsonValueKind.Null, $"{where} {field}: served {actual}, recomputed null");
            return;
        }

        var tolerance = figure.CapPercentile is null
            ? (1e-6 * Z95 * (Sqrt(ratio.Variance) ?? 0)) + (1e-9 * Math.Abs(e)) + 1e-12
            : 0.02 * Math.Max(Math.Abs(e), Math.Abs(ratio.Value ?? 0));
        check(actual.ValueKind == JsonValueKind.Number && Math.Abs(actual.GetDouble() - e) <= tolerance, $"{where} {field}: served {actual}, recomputed {e}");
    }
}
