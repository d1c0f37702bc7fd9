using Microsoft.Extensions.Options;
using SessionTracking.Analytics;
using SessionTracking.Metrics;

namespace SessionTracking.Grains.Tests.Mongo;

/// <summary>
/// Custom metrics for the adapter tests: one of each kind that stores something different (counts, a condition, a
/// proportion, a sum, a quantile's bins, a funnel's steps, a ratio, a mean capped at a percentile, a window from the
/// exposure), over the event types <see cref="AnalyticsDataset"/> sends. And the comparison of custom aggregates.
/// </summary>
internal static class CustomMetricData
{
    /// <summary>
    /// The metric a test defines after sessions were stored (<see cref="Catalog"/> without it: the older configuration):
    /// a window from the exposure, so a backfill that took the wrong exposure would count other sessions.
    /// </summary>
    public const string LateMetric = "responded_1h";

    public static MetricCatalog Catalog(bool withLateMetric = true, string? usersExperiment = null)
    {
        var metrics = new Dictionary<string, MetricOptions>(StringComparer.Ordinal)
        {
            ["responses_n"] = new() { Kind = "count", EventType = "model_response" },
            ["up_votes"] = new() { Kind = "count", EventType = "feedback", Where = "data.feedback = \"up\"" },
            ["latency_total"] = new() { Kind = "sum", EventType = "model_response", Field = "data.latency_ms" },
            ["latency_p90"] = new() { Kind = "quantile", EventType = "model_response", Field = "data.latency_ms", Quantile = 0.9 },
            ["latency_mean"] = new() { Kind = "mean", EventType = "model_response", Field = "data.latency_ms", CapPercentile = 0.95 },
            ["engaged"] = new() { Kind = "funnel", Steps = ["prompt", "model_response", "feedback"] },
            ["up_per_response"] = new() { Kind = "ratio", Numerator = "up_votes", Denominator = "responses_n" },
            ["copied"] = new() { Kind = "proportion", EventType = "copy" },
        };
        if (withLateMetric)
        {
            metrics[LateMetric] = new() { Kind = "proportion", EventType = "model_response", WindowHours = 1 };
        }

        var options = new AnalyticsOptions { Metrics = metrics };
        if (usersExperiment is not null)
        {
            options.Experiments[usersExperiment] = new ExperimentOptions { Unit = AnalysisUnit.User };
        }

        return new MetricCatalog(Options.Create(options));
    }

    /// <summary>
    /// The same aggregates by key: a key one side lacks counts as empty, slots within 1e-9 relative (the adapters add
    /// the same terms in another order).
    /// </summary>
    public static void AssertSameCustom(IReadOnlyDictionary<string, MetricMoments>? expected, IReadOnlyDictionary<string, MetricMoments>? actual)
    {
        Assert.Equal(expected is null, actual is null);
        if (expected is null || actual is null)
        {
            return;
        }

        foreach (var key in expected.Keys.Union(actual.Keys))
        {
            var e = expected.GetValueOrDefault(key) ?? new MetricMoments();
            var a = actual.GetValueOrDefault(key) ?? new MetricMoments();
            foreach (var slot in e.Slots.Select(s => s.Key).Union(a.Slots.Select(s => s.Key)))
            {
                Assert.True(Close(e[slot], a[slot]), $"metric {key}, slot {slot}: expected {e[slot]}, got {a[slot]}");
            }
        }
    }

    /// <summary>Every slot of every aggregate is (close to) zero.</summary>
    public static void AssertZero(IReadOnlyDictionary<string, MetricMoments>? aggregates)
    {
        foreach (var (key, moments) in aggregates ?? new Dictionary<string, MetricMoments>())
        {
            Assert.All(moments.Slots, s => Assert.True(Math.Abs(s.Value) <= 1e-6, $"metric {key}, slot {s.Key}: {s.Value}"));
        }
    }

    private static bool Close(double expected, double actual) =>
        Math.Abs(expected - actual) <= 1e-9 * Math.Max(1, Math.Max(Math.Abs(expected), Math.Abs(actual)));
}
