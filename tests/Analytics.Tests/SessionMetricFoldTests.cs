using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using SessionTracking.Metrics;
using SessionTracking.TestSupport;

namespace SessionTracking.Analytics.Tests;

/// <summary>
/// The per-session fold of custom metrics and the unit values derived from it, against hand-computed figures and against
/// an independent straightforward computation over the same events (docs/custom-metrics.md, "Formulas").
/// </summary>
[TestCategory("BVT")]
public sealed class SessionMetricFoldTests
{
    private const long Hour = 3_600_000;
    private const long Day = 24 * Hour;

    private const string Definitions =
        "Metrics:done_rate:Kind=proportion;Metrics:done_rate:EventType=task_completed;Metrics:done_rate:WindowHours=12;" +
        "Metrics:regenerates:Kind=count;Metrics:regenerates:EventType=regenerate;Metrics:regenerates:CapValue=3;" +
        "Metrics:responses_n:Kind=count;Metrics:responses_n:EventType=model_response;" +
        "Metrics:regen_per_response:Kind=ratio;Metrics:regen_per_response:Numerator=regenerates;Metrics:regen_per_response:Denominator=responses_n;" +
        "Metrics:revenue:Kind=sum;Metrics:revenue:EventType=purchase;Metrics:revenue:Field=data.amount;Metrics:revenue:CapPercentile=0.9;" +
        "Metrics:revenue_per_purchase:Kind=sum;Metrics:revenue_per_purchase:EventType=purchase;Metrics:revenue_per_purchase:Field=data.amount;Metrics:revenue_per_purchase:PerEvent=true;" +
        "Metrics:rating_mean:Kind=mean;Metrics:rating_mean:EventType=rating;Metrics:rating_mean:Field=data.score;Metrics:rating_mean:PerEvent=true;" +
        "Metrics:app_rating:Kind=mean;Metrics:app_rating:EventType=rating;Metrics:app_rating:Field=data.score;Metrics:app_rating:Where=data.source = \"app\";Metrics:app_rating:CapValue=4.5;" +
        "Metrics:good_ratings:Kind=count;Metrics:good_ratings:EventType=rating;Metrics:good_ratings:Where=data.score >= 4;" +
        "Metrics:amount_p90:Kind=quantile;Metrics:amount_p90:EventType=purchase;Metrics:amount_p90:Field=data.amount;Metrics:amount_p90:Quantile=0.9;" +
        "Metrics:d7:Kind=retention;Metrics:d7:FromDay=7;Metrics:d7:ToDay=7;" +
        "Metrics:active_d1_3:Kind=retention;Metrics:active_d1_3:EventType=prompt;Metrics:active_d1_3:Where=data.length > 0;Metrics:active_d1_3:FromDay=1;Metrics:active_d1_3:ToDay=3;" +
        "Metrics:funnel3:Kind=funnel;Metrics:funnel3:Steps:0=prompt;Metrics:funnel3:Steps:1=model_response;Metrics:funnel3:Steps:2=task_completed where data.ok = true;Metrics:funnel3:WindowHours=48;" +
        "Prices:m1:InputPerMillion=1;Prices:m1:OutputPerMillion=2;Prices:m2:InputPerMillion=3;Prices:m2:OutputPerMillion=15";

    private static readonly MetricSet Metrics = MetricDefinitionTests.Validate(Definitions).Metrics!;

    private sealed record Ev(string Type, string Data, long Time);

    private sealed record Sess(long Start, List<Ev> Events);

    [Fact]
    public void Numeric_fields_count_values_and_say_why_others_are_left_out()
    {
        var values = Fold(
            0,
            0,
            [
                E("rating", """{"score":4}"""),
                E("rating", """{"score":2.5}"""),
                E("rating", """{"score":"5"}"""), // ignored: not a number
                E("rating", """{"score":true}"""), // ignored
                E("rating", """{"score":null}"""), // ignored
                E("rating", """{"score":{"v":1}}"""), // ignored
                E("rating", """{}"""), // missing
                E("rating", "not json"), // missing: unreadable data has no fields
                E("rating", """{"score":1e400}"""), // excluded: no double holds it
                E("rating", """{"score":-2e12}"""), // excluded: beyond ±10¹²
                E("rating", """{"score":-1e12}"""), // the bound itself counts
                E("click", """{"score":5}"""), // no metric looks at clicks
            ]);

        Assert.Equal(11, values["rating_mean", "events"]);
        Assert.Equal(3, values["rating_mean", "values"]);
        Assert.Equal(4 + 2.5 - 1e12, values["rating_mean", "sum"]);
        Assert.Equal(16 + 6.25 + 1e24, values["rating_mean", "sum_squares"]);
        Assert.Equal(2, values["rating_mean", "missing"]);
        Assert.Equal(4, values["rating_mean", "ignored"]);
        Assert.Equal(2, values["rating_mean", "excluded"]);
        Assert.Equal(2, values["good_ratings", "events"]); // 4 and 1e400 (a number ≥ 4, though out of the figures' bounds)
        Assert.Equal(new UnitValue(4 + 2.5 - 1e12, 3), UnitMetrics.Value(values, "rating_mean"));
    }

    [Fact]
    public void Windows_count_from_the_exposure_and_exclude_their_end()
    {
        var values = Fold(
            10 * Hour,
            Hour,
            [
                E("task_completed", "{}", Hour + (12 * Hour)), // at the window's end: out
                E("prompt", "{}", Hour + (48 * Hour) - 1), // funnel window 48 h: in, the last millisecond
                E("model_response", "{}", Hour + (48 * Hour)), // out
            ]);
        Assert.Equal(0, values["done_rate", "events"]);
        Assert.Equal(new double[] { 1, 0, 0 }, Steps(values));

        values = Fold(10 * Hour, Hour, [E("task_completed", "{}", Hour + (12 * Hour) - 1), E("task_completed", "{}", 0)]);
        Assert.Equal(2, values["done_rate", "events"]); // an event before the exposure (a client clock) is inside
        Assert.Equal(new UnitValue(1, 1), UnitMetrics.Value(values, "done_rate"));
    }

    [Fact]
    public void A_funnel_advances_one_step_per_event_in_the_session_order()
    {
        var values = Fold(0, 0, [E("model_response"), E("prompt"), E("task_completed", """{"ok":true}"""), E("prompt"), E("model_response")]);
        Assert.Equal(new double[] { 1, 1, 0 }, Steps(values)); // the completion came before the response that followed the prompt

        values = Fold(0, 0, [E("prompt"), E("model_response"), E("task_completed", """{"ok":"true"}"""), E("task_completed", """{"ok":true}""")]);
        Assert.Equal(new double[] { 1, 1, 1 }, Steps(values));
        Assert.Equal(new UnitValue(1, 1), UnitMetrics.FunnelStep(values, "funnel3", 3, ofPrevious: true));

        var twice = MetricDefinitionTests.Validate("Metrics:f:Kind=funnel;Metrics:f:Steps:0=prompt;Metrics:f:Steps:1=prompt").Metrics!;
        var fold = new SessionMetricFold(twice, 0, 0);
        fold.Add("prompt", "{}", 0);
        Assert.Equal(new UnitValue(0, 1), UnitMetrics.FunnelStep(fold.Snapshot(), "f", 2, ofPrevious: true));
        fold.Add("prompt", "{}", 0);
        Assert.Equal(new UnitValue(1, 1), UnitMetrics.FunnelStep(fold.Snapshot(), "f", 2, ofPrevious: true));
    }

    [Theory]
    [InlineData(7 * Day - 1, 0)]
    [InlineData(7 * Day, 1)]
    [InlineData(8 * Day - 1, 1)]
    [InlineData(8 * Day, 0)]
    public void Retention_counts_a_session_starting_on_one_of_its_days(long sinceExposure, int retained)
    {
        var values = Fold(1_000 + sinceExposure, 1_000, []);
        Assert.Equal(retained, values["d7", "sessions"]);
        Assert.Equal(new UnitValue(retained, 1), UnitMetrics.Value(values, "d7"));

        // With an event type, only a session with a matching event counts.
        values = Fold(1_000 + Day, 1_000, [E("prompt", """{"length":0}""")]);
        Assert.Equal(0, values["active_d1_3", "sessions"]);
        values = Fold(1_000 + Day, 1_000, [E("prompt", """{"length":3}""")]);
        Assert.Equal(1, values["active_d1_3", "sessions"]);
    }

    [Fact]
    public void Cost_applies_the_price_table_to_each_response()
    {
        var values = Fold(
            0,
            0,
            [
                E("model_response", """{"model":"m1","input_tokens":1000,"output_tokens":500}"""), // 0.001 + 0.001
                E("model_response", """{"model":"m2","input_tokens":2000}"""), // 0.006, output missing: 0
                E("model_response", """{"model":"m2","output_tokens":100000000}"""), // 1500, the bound itself
                E("model_response", """{"model":"m3","input_tokens":10}"""), // unpriced: no price
                E("model_response", """{"model":"m1"}"""), // unpriced: no counts
                E("model_response", """{"model":"m1","input_tokens":"10"}"""), // unpriced: not a number
                E("model_response", """{"model":"m1","input_tokens":10,"output_tokens":1e9}"""), // excluded
                E("model_response", """{"model":"m1","input_tokens":-1}"""), // excluded
                E("model_response", """{"model":5,"input_tokens":10}"""), // unpriced: the model is no string
                E("prompt", """{"model":"m1","input_tokens":10}"""), // not a response
            ]);
        Assert.Equal(9, values["cost", "responses"]);
        Assert.Equal(3, values["cost", "priced"]);
        Assert.Equal(6, values["cost", "unpriced"]);
        Assert.Equal(2, values["cost", "excluded"]);
        Assert.Equal(0.002 + 0.006 + 1500, values["cost", "cost"], 12);
        Assert.Equal((0.002 * 0.002) + (0.006 * 0.006) + (1500.0 * 1500), values["cost", "cost_squares"], 9);
        Assert.Equal(0.006, new ModelPrice(3, 15).CostOf(2000, 0), 15);
    }

    [Fact]
    public void Capping_at_a_percentile_winsorizes_the_units_totals()
    {
        var units = new[] { 0.0, 10, 20, 30, 1000 }
            .Select(amount => Fold(0, 0, amount == 0 ? [] : [E("purchase", $$"""{"amount":{{amount}}}""")]))
            .ToList();
        var cap = UnitMetrics.CapThreshold(Metrics, "revenue", units);
        Assert.Equal(30 + (0.6 * 970), cap!.Value, 9); // (n − 1)p = 3.6: between 30 and 1000
        var caps = new Dictionary<string, double> { ["revenue"] = cap.Value };
        Assert.Equal(new[] { 0, 10, 20, 30, cap.Value }, units.Select(u => UnitMetrics.Value(u, "revenue", caps).Numerator));
        Assert.Throws<InvalidOperationException>(() => UnitMetrics.Value(units[0], "revenue"));
        Assert.Equal(3.0, UnitMetrics.CapThreshold(Metrics, "regenerates", units));
        Assert.Null(UnitMetrics.CapThreshold(Metrics, "responses_n", units));
    }

    [Fact]
    public void A_fold_continued_from_a_snapshot_equals_one_fold_of_every_event()
    {
        foreach (var session in Generate(new Random(11), 50).SelectMany(u => u.Sessions))
        {
            var exposure = session.Start - Day;
            var whole = new SessionMetricFold(Metrics, session.Start, exposure);
            var first = new SessionMetricFold(Metrics, session.Start, exposure);
            var half = session.Events.Count / 2;
            foreach (var e in session.Events)
            {
                whole.Add(e.Type, e.Data, e.Time);
            }

            foreach (var e in session.Events.Take(half))
            {
                first.Add(e.Type, e.Data, e.Time);
            }

            var second = new SessionMetricFold(Metrics, session.Start, exposure, first.Snapshot());
            foreach (var e in session.Events.Skip(half))
            {
                second.Add(e.Type, e.Data, e.Time);
            }

            Assert.Equal(whole.Snapshot().Values.ToArray(), second.Snapshot().Values.ToArray());
            Assert.Equal(whole.Snapshot().Sketch("amount_p90").Bins, second.Snapshot().Sketch("amount_p90").Bins);
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Every_kind_equals_an_independent_computation(bool sessionsAsUnits)
    {
        var users = Generate(new Random(7), 400);

        // The unit: a user (exposure = its first session's start) or each session on its own (exposure = its start).
        var units = sessionsAsUnits
            ? users.SelectMany(u => u.Sessions.Select(s => (Exposure: s.Start, Sessions: new List<Sess> { s }))).ToList()
            : users.Select(u => (Exposure: u.Sessions.Min(s => s.Start), u.Sessions)).ToList();
        var folded = units.Select(u =>
        {
            var row = new MetricValues(Metrics);
            foreach (var session in u.Sessions)
            {
                var fold = new SessionMetricFold(Metrics, session.Start, u.Exposure);
                session.Events.ForEach(e => fold.Add(e.Type, e.Data, e.Time));
                row.Add(fold.Snapshot());
            }

            return row;
        }).ToList();

        var expectedRevenue = units.Select(u => Valid(u.Sessions, "purchase", "amount").Sum()).Order().ToList();
        var revenueCap = Percentile(expectedRevenue, 0.9);
        var caps = new Dictionary<string, double> { ["revenue"] = UnitMetrics.CapThreshold(Metrics, "revenue", folded)!.Value };
        Assert.Equal(revenueCap, caps["revenue"], 9);

        for (var i = 0; i < units.Count; i++)
        {
            var (exposure, sessions) = units[i];
            var row = folded[i];
            var events = sessions.SelectMany(s => s.Events).ToList();
            void Check(string metric, double numerator, double denominator)
            {
                var actual = UnitMetrics.Value(row, metric, caps);
                Assert.True(Close(numerator, actual.Numerator) && Close(denominator, actual.Denominator), $"{metric}, unit {i}: expected ({numerator}, {denominator}), folded {actual}");
            }

            Check("done_rate", events.Any(e => e.Type == "task_completed" && e.Time - exposure < 12 * Hour) ? 1 : 0, 1);
            var regenerates = Math.Min(events.Count(e => e.Type == "regenerate"), 3);
            var responses = events.Count(e => e.Type == "model_response");
            Check("regenerates", regenerates, 1);
            Check("responses_n", responses, 1);
            Check("regen_per_response", regenerates, responses);
            var amounts = Valid(sessions, "purchase", "amount").ToList();
            Check("revenue", Math.Min(amounts.Sum(), revenueCap), 1);
            Check("revenue_per_purchase", amounts.Sum(), events.Count(e => e.Type == "purchase"));
            var scores = Valid(sessions, "rating", "score").ToList();
            Check("rating_mean", scores.Sum(), scores.Count);
            var appScores = events.Where(e => e.Type == "rating" && Node(e)?["source"] is JsonValue v && v.GetValueKind() == JsonValueKind.String && v.GetValue<string>() == "app")
                .Select(e => Number(Node(e)?["score"])).Where(IsValid).Select(v => v!.Value).ToList();
            if (appScores.Count > 0)
            {
                Check("app_rating", Math.Min(appScores.Average(), 4.5), 1);
            }
            else
            {
                Check("app_rating", 0, 0);
            }

            Check("good_ratings", events.Count(e => e.Type == "rating" && Number(Node(e)?["score"]) >= 4), 1);
            Check("d7", sessions.Any(s => DayOf(s, exposure) == 7) ? 1 : 0, 1);
            Check("active_d1_3", sessions.Any(s => DayOf(s, exposure) is >= 1 and <= 3 && s.Events.Any(e => e.Type == "prompt" && Number(Node(e)?["length"]) > 0)) ? 1 : 0, 1);

            var reached = sessions.Select(s => FunnelReached(s, exposure)).Max();
            for (var step = 1; step <= 3; step++)
            {
                Assert.Equal(new UnitValue(reached >= step ? 1 : 0, 1), UnitMetrics.FunnelStep(row, "funnel3", step));
            }

            var (cost, priced) = ExpectedCost(events);
            Assert.True(Close(cost, row["cost", "cost"]) && priced == row["cost", "priced"], $"cost of unit {i}");
            Assert.Equal(responses, row["cost", "responses"]);
        }

        // Not vacuous: every metric has units on both sides of what it measures (retention needs days between sessions).
        foreach (var metric in Metrics.Definitions.Where(d => d.Kind is not (MetricKind.Quantile or MetricKind.Funnel)).Select(d => d.Name))
        {
            var numerators = folded.Select(u => UnitMetrics.Value(u, metric, caps).Numerator).ToList();
            Assert.True((sessionsAsUnits && Metrics.ByName[metric].Kind == MetricKind.Retention) || (numerators.Any(n => n > 0) && numerators.Any(n => n == 0)), metric);
        }

        Assert.Contains(folded, u => UnitMetrics.FunnelStep(u, "funnel3", 3).Numerator > 0);
        Assert.Contains(folded, u => UnitMetrics.FunnelStep(u, "funnel3", 1).Numerator == 0);

        // The group's quantile from the merged sketches: within the sketch's 1 % of the exact percentile of every value.
        var group = new MetricValues(Metrics);
        folded.ForEach(group.Add);
        var allAmounts = users.SelectMany(u => Valid(u.Sessions, "purchase", "amount")).Order().ToList();
        Assert.Equal(allAmounts.Count, group["amount_p90", "values"]);
        Assert.InRange(group.Sketch("amount_p90").Quantile(0.9)!.Value, Percentile(allAmounts, 0.9) * 0.99, Percentile(allAmounts, 0.9) * 1.01);
        var purchases = users.SelectMany(u => u.Sessions).SelectMany(s => s.Events).Where(e => e.Type == "purchase").ToList();
        Assert.Equal(purchases.Count, group["amount_p90", "events"]);
        Assert.Equal(purchases.Count(e => Node(e)?["amount"] is null), group["amount_p90", "missing"]);
        Assert.Equal(purchases.Count(e => Node(e)?["amount"] is JsonNode n && n.GetValueKind() != JsonValueKind.Number), group["amount_p90", "ignored"]);
        Assert.Equal(purchases.Count(e => Number(Node(e)?["amount"]) is { } v && !IsValid(v)), group["amount_p90", "excluded"]);
        Assert.True(group["amount_p90", "ignored"] > 0 && group["amount_p90", "excluded"] > 0 && group["amount_p90", "missing"] > 0);
    }

    // ---- the independent computation: JsonNode, no Condition, no FieldPath ----

    private static JsonNode? Node(Ev e)
    {
        try
        {
            return JsonNode.Parse(e.Data);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>A JSON number as a double (±∞ beyond doubles); null for anything else.</summary>
    private static double? Number(JsonNode? node) =>
        node is JsonValue v && v.GetValueKind() == JsonValueKind.Number ? double.Parse(v.ToJsonString(), CultureInfo.InvariantCulture) : null;

    private static bool IsValid(double? v) => v is { } x && double.IsFinite(x) && Math.Abs(x) <= 1e12;

    private static IEnumerable<double> Valid(List<Sess> sessions, string type, string field) =>
        sessions.SelectMany(s => s.Events).Where(e => e.Type == type).Select(e => Number(Node(e)?[field])).Where(IsValid).Select(v => v!.Value);

    private static long DayOf(Sess s, long exposure) => (long)Math.Floor((s.Start - exposure) / (double)Day);

    private static int FunnelReached(Sess s, long exposure)
    {
        var reached = 0;
        foreach (var e in s.Events.Where(e => e.Time - exposure < 48 * Hour))
        {
            var matches = reached switch
            {
                0 => e.Type == "prompt",
                1 => e.Type == "model_response",
                2 => e.Type == "task_completed" && Node(e)?["ok"] is JsonValue ok && ok.GetValueKind() == JsonValueKind.True,
                _ => false,
            };
            reached += matches ? 1 : 0;
        }

        return reached;
    }

    private static (double Cost, int Priced) ExpectedCost(List<Ev> events)
    {
        var prices = new Dictionary<string, (double In, double Out)> { ["m1"] = (1, 2), ["m2"] = (3, 15) };
        double cost = 0;
        var priced = 0;
        foreach (var e in events.Where(e => e.Type == "model_response"))
        {
            var data = Node(e);
            var model = data?["model"] is JsonValue m && m.GetValueKind() == JsonValueKind.String ? m.GetValue<string>() : null;
            var input = data?["input_tokens"];
            var output = data?["output_tokens"];
            bool Ok(JsonNode? n) => n is null || (Number(n) is { } v && v >= 0 && v <= 1e8);
            if (model is null || !prices.TryGetValue(model, out var price) || (input is null && output is null) || !Ok(input) || !Ok(output))
            {
                continue;
            }

            cost += ((Number(input) ?? 0) * price.In / 1e6) + ((Number(output) ?? 0) * price.Out / 1e6);
            priced++;
        }

        return (cost, priced);
    }

    private static double Percentile(IReadOnlyList<double> sorted, double p)
    {
        var rank = (sorted.Count - 1) * p;
        var below = (int)rank;
        return below + 1 < sorted.Count ? sorted[below] + ((rank - below) * (sorted[below + 1] - sorted[below])) : sorted[below];
    }

    private static bool Close(double expected, double actual) => Math.Abs(expected - actual) <= 1e-9 * Math.Max(1, Math.Abs(expected));

    // ---- data ----

    private static MetricValues Fold(long sessionStart, long exposure, IEnumerable<Ev> events)
    {
        var fold = new SessionMetricFold(Metrics, sessionStart, exposure);
        foreach (var e in events)
        {
            fold.Add(e.Type, e.Data, e.Time);
        }

        return fold.Snapshot();
    }

    private static Ev E(string type, string data = "{}", long time = 0) => new(type, data, time);

    private static double[] Steps(MetricValues values) => [.. Enumerable.Range(1, 3).Select(s => values["funnel3", MetricSet.StepColumn(s)])];

    /// <summary>Users with one to four sessions over twelve days, events of every type with valid, odd and missing fields.</summary>
    private static List<(int User, List<Sess> Sessions)> Generate(Random random, int userCount)
    {
        string Pick(params string[] choices) => choices[random.Next(choices.Length)];
        string Data(string type) => type switch
        {
            "task_completed" => $$"""{"ok":{{Pick("true", "false", "\"yes\"")}}}""",
            "model_response" => $$"""{"model":{{Pick("\"m1\"", "\"m2\"", "\"m3\"", "5")}}{{Tokens("input_tokens")}}{{Tokens("output_tokens")}}}""",
            "purchase" => random.Next(10) switch
            {
                0 => "{}",
                1 => """{"amount":"12"}""",
                2 => """{"amount":1e13}""",
                3 => """{"amount":-5.5}""",
                4 => """{"amount":25000}""",
                _ => $$"""{"amount":{{(random.NextDouble() * 200).ToString("R", CultureInfo.InvariantCulture)}}}""",
            },
            "rating" => $$"""{"score":{{Pick("1", "2", "3", "4", "5", "4.5", "\"5\"", "null", "1e400")}},"source":{{Pick("\"app\"", "\"web\"", "1")}}}""",
            "prompt" => $$"""{"length":{{Pick("0", "3", "12", "\"7\"")}}}""",
            _ => "{}",
        };
        string Tokens(string name) => random.Next(6) switch
        {
            0 => "",
            1 => $",\"{name}\":\"100\"",
            2 => $",\"{name}\":1e9",
            _ => $",\"{name}\":{random.Next(0, 5000)}",
        };

        var users = new List<(int, List<Sess>)>();
        for (var u = 0; u < userCount; u++)
        {
            var exposure = 1_700_000_000_000 + (random.Next(0, 1000) * Hour);
            var sessions = new List<Sess>();
            for (var s = random.Next(1, 5); s > 0; s--)
            {
                var start = sessions.Count == 0 ? exposure : exposure + (random.Next(0, 12) * Day) + Pick("0", "1", "-1", "43200000") switch
                {
                    "-1" => Day - 1,
                    var offset => long.Parse(offset, CultureInfo.InvariantCulture),
                };
                var events = new List<Ev>();
                var t = start;
                for (var e = random.Next(0, 12); e > 0; e--)
                {
                    t += random.Next(0, (int)(8 * Hour));
                    var type = Pick("task_completed", "regenerate", "model_response", "model_response", "purchase", "rating", "prompt", "prompt", "copy");
                    events.Add(new Ev(type, Data(type), t));
                }

                sessions.Add(new Sess(start, events));
            }

            users.Add((u, sessions));
        }

        return users;
    }
}
