using SessionTracking.Analytics;
using SessionTracking.ReadModel;
using SessionTracking.Storage;
using SessionTracking.TestSupport;

namespace SessionTracking.Grains.Tests;

/// <summary>The readout of a treatment: ship, keep the baseline, inconclusive, or a breached guardrail, with the reasons.</summary>
[TestCategory("BVT")]
public sealed class ExperimentDecisionsTests
{
    private static readonly AnalyticsOptions Options = new();

    private static readonly ExperimentOptions Experiment = new()
    {
        Guardrails = new Dictionary<string, GuardrailOptions>
        {
            ["errors"] = new() { Metric = "errors_per_session", Threshold = 0.1 },
            ["slow answers"] = new() { Metric = "latency_p95", Threshold = 0.2 },
        },
    };

    [Theory]
    [InlineData(0.30, 0.40, 0.10, "ship")]
    [InlineData(0.30, 0.20, 0.10, "keep_baseline")]
    [InlineData(0.30, 0.30, 0.10, "inconclusive")]
    [InlineData(0.30, 0.40, 0.30, "guardrail_breached")]
    public void The_readout_follows_the_primary_metric_unless_a_guardrail_is_breached(double baselineUp, double treatmentUp, double treatmentErrors, string decision)
    {
        var baseline = Group("A", baselineUp, errors: 0.10, latency: 1000, seed: 1);
        var treatment = Group("B", treatmentUp, treatmentErrors, latency: 1000, seed: 2);
        var comparison = new ExperimentDecisions(Options, Experiment, AnalysisUnit.Session).Compare(baseline, treatment, baseline, treatment);

        var readout = comparison.Readout!;
        Assert.Equal(decision, readout.Decision);
        Assert.Equal("up_rate", readout.PrimaryMetric);
        Assert.NotEmpty(readout.Reasons);
        var errors = readout.Guardrails.Single(g => g.Name == "errors");
        Assert.Equal(decision == "guardrail_breached" ? "breached" : "ok", errors.Status);
        Assert.Equal("ok", readout.Guardrails.Single(g => g.Name == "slow answers").Status);
        if (decision == "guardrail_breached")
        {
            Assert.Contains(readout.Reasons, r => r.StartsWith("guardrail errors: errors_per_session +", StringComparison.Ordinal));
        }

        // Sequential intervals are wider than the fixed-horizon ones: they hold at every look.
        var up = comparison.UpRate;
        Assert.True(up.Sequential!.High - up.Sequential.Low > up.High - up.Low);
    }

    [Fact]
    public void A_p95_guardrail_compares_the_sketches_percentiles()
    {
        var baseline = Group("A", 0.3, 0.1, latency: 1000, seed: 3);
        var treatment = Group("B", 0.3, 0.1, latency: 1500, seed: 4);
        var readout = new ExperimentDecisions(Options, Experiment, AnalysisUnit.Session).Compare(baseline, treatment, baseline, treatment).Readout!;

        var slow = readout.Guardrails.Single(g => g.Name == "slow answers");
        Assert.Equal("breached", slow.Status);
        Assert.InRange(slow.RelativeChange!.Value, 0.45, 0.55);
        Assert.Equal("guardrail_breached", readout.Decision);
    }

    [Fact]
    public void Adjusted_p_values_cover_every_comparison_of_the_report()
    {
        var decisions = new ExperimentDecisions(Options, Experiment, AnalysisUnit.Session);
        var a = Group("A", 0.3, 0.1, 1000, seed: 5);
        var comparisons = ExperimentDecisions.AdjustPValues([
            decisions.Compare(a, Group("B", 0.35, 0.1, 1000, seed: 6), a, null),
            decisions.Compare(a, Group("C", 0.30, 0.1, 1100, seed: 7), a, null),
        ]);

        var raw = comparisons.SelectMany(c => new[] { c.UpRate, c.LatencyMs, c.DurationMs, c.PromptsPerSession, c.ErrorsPerSession, c.StoppedRate! }).ToList();
        var holm = Statistics.Holm(raw.Select(d => d.PValue).ToList());
        Assert.Equal(holm, raw.Select(d => d.HolmPValue));
        Assert.All(raw.Where(d => d.PValue is not null), d => Assert.True(d.BenjaminiHochbergPValue >= d.PValue && d.HolmPValue >= d.BenjaminiHochbergPValue));
        Assert.Null(comparisons[0].UpRate.Sequential); // no origin figures for the treatment: no sequential result
    }

    [Fact]
    public void A_custom_quantile_has_an_interval_a_comparison_and_can_decide_and_guard()
    {
        var options = new AnalyticsOptions
        {
            Metrics = { ["score_p90"] = new() { Kind = "quantile", EventType = "rating", Field = "data.score", Quantile = 0.9 } },
        };
        var experiment = new ExperimentOptions
        {
            Unit = AnalysisUnit.Session,
            PrimaryMetric = "score_p90",
            Guardrails = { ["p90"] = new() { Metric = "score_p90", Threshold = 0.05, HigherIsWorse = false } },
        };
        Assert.Contains("score_p90", options.CustomFigures());
        var catalog = new Metrics.MetricCatalog(Microsoft.Extensions.Options.Options.Create(options));
        var key = catalog.Set.KeyOf("score_p90");
        var states = new Dictionary<string, MetricBackfillState> { [key] = new(key, "score_p90", "complete", 0, 0, null, null) };
        GroupFigures WithScores(GroupFigures group, double scale, int seed)
        {
            var random = new Random(seed);
            var moments = new Metrics.MetricMoments();
            for (var unit = 0; unit < 600; unit++)
            {
                var unitEffect = 0.5 * Normal(random);
                var values = new QuantileSketch();
                for (var j = random.Next(1, 6); j > 0; j--)
                {
                    values.Add(scale * Math.Exp(unitEffect + (0.3 * Normal(random))));
                }

                moments.Add(Metrics.MetricAggregation.Units, 1);
                Metrics.MetricAggregation.AddQuantileUnit(moments, values, +1);
            }

            return group with { CustomSessions = new Dictionary<string, Metrics.MetricMoments> { [key] = moments } };
        }

        var baseline = WithScores(Group("A", 0.3, 0.1, 1000, seed: 8), 1.0, seed: 9);
        var treatment = WithScores(Group("B", 0.3, 0.1, 1000, seed: 10), 1.3, seed: 11);
        var report = new CustomMetricReport(catalog, states, "exp", AnalysisUnit.Session, [baseline, treatment]);

        var value = report.Values(baseline).Single();
        Assert.True(value.Low < value.Value && value.Value < value.High, $"{value.Low} {value.Value} {value.High}");
        Assert.Contains("outer CI, delta method (Deng, Knoblich and Lu 2018)", value.Note, StringComparison.Ordinal);

        var comparison = new ExperimentDecisions(options, experiment, AnalysisUnit.Session, report, report).Compare(baseline, treatment, baseline, treatment);
        var difference = comparison.CustomMetrics!.Single(c => c.Name == "score_p90").Difference;
        Assert.True(difference.PValue < 0.001 && difference.Low > 0, $"p = {difference.PValue}, [{difference.Low}, {difference.High}]");
        Assert.Equal("ship", comparison.Readout!.Decision);
        Assert.Equal("ok", comparison.Readout.Guardrails.Single().Status);

        // The other way round the guardrail (a lower p90 is the harm) is breached by a significant drop.
        var reverse = new ExperimentDecisions(options, experiment, AnalysisUnit.Session, report, report).Compare(treatment, baseline, treatment, baseline).Readout!;
        Assert.Equal("breached", reverse.Guardrails.Single().Status);
        Assert.True(reverse.Guardrails.Single().SequentialPValue < 0.05);
    }

    private static double Normal(Random random) =>
        Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());

    /// <summary>2,000 sessions: one feedback each (up with the given probability), errors per session, 3 latencies around the given value.</summary>
    private static GroupFigures Group(string name, double upRate, double errors, double latency, int seed)
    {
        var random = new Random(seed);
        var sessions = new Moments();
        var latencies = new QuantileSketch();
        for (var i = 0; i < 2000; i++)
        {
            var v = new double[MetricFields.Count];
            v[(int)MetricField.Sessions] = 1;
            v[(int)MetricField.Prompts] = 3;
            v[(int)MetricField.Responses] = 3;
            v[(int)MetricField.Feedback] = 1;
            v[(int)MetricField.FeedbackUp] = random.NextDouble() < upRate ? 1 : 0;
            v[(int)MetricField.Errors] = random.NextDouble() < errors ? 1 : 0;
            for (var r = 0; r < 3; r++)
            {
                var value = latency * (0.5 + random.NextDouble());
                v[(int)MetricField.LatencyCount]++;
                v[(int)MetricField.LatencySum] += value;
                v[(int)MetricField.LatencySumSquares] += value * value;
                latencies.Add(value);
            }

            sessions.Add(v);
        }

        return new GroupFigures("exp", name, sessions, null, new QuantileSketch(), latencies, new QuantileSketch());
    }
}
