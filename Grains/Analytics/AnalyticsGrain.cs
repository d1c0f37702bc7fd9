using Microsoft.Extensions.Options;
using Orleans.Concurrency;
using SessionTracking.Storage;

namespace SessionTracking.Analytics;

/// <summary>
/// Turns the store's aggregates into the experiment report: Wilson intervals, two-proportion tests, bootstrap
/// intervals and the sample-ratio check. Stateless worker: every silo answers locally, next to its store.
/// </summary>
[StatelessWorker]
public sealed class AnalyticsGrain(IAnalyticsStore store, IOptions<AnalyticsOptions> options) : Grain, IAnalyticsGrain
{
    private readonly AnalyticsOptions _options = options.Value;

    public async ValueTask<IReadOnlyList<ExperimentReport>> GetReportsAsync(AnalyticsFilter filter, string? baseline)
    {
        var cancellationToken = CancellationToken.None;
        var sketch = _options.BootstrapSampleSize;

        // Four independent read queries: SQLite's WAL lets them run at once on separate connections.
        var aggregatesTask = store.AggregateGroupsAsync(filter, cancellationToken);
        var durationsTask = store.QuantilesAsync(filter, AnalyticsMetric.DurationMs, sketch, cancellationToken);
        var latenciesTask = store.QuantilesAsync(filter, AnalyticsMetric.LatencyMs, sketch, cancellationToken);
        var ttftsTask = store.QuantilesAsync(filter, AnalyticsMetric.TimeToFirstTokenMs, sketch, cancellationToken);
        await Task.WhenAll(aggregatesTask, durationsTask, latenciesTask, ttftsTask);
        var aggregates = await aggregatesTask;
        var durations = Index(await durationsTask);
        var latencies = Index(await latenciesTask);
        var ttfts = Index(await ttftsTask);

        var reports = new List<ExperimentReport>();
        foreach (var experiment in aggregates.GroupBy(a => a.ExperimentId))
        {
            var groups = experiment.Select(a => BuildGroup(a, durations, latencies, ttfts)).ToList();
            var baselineGroup = groups.FirstOrDefault(g => g.ModelGroup == baseline) ?? groups[0];
            var comparisons = groups
                .Where(g => g != baselineGroup)
                .Select(g => Compare(baselineGroup, g, durations, latencies))
                .ToList();
            reports.Add(new ExperimentReport(experiment.Key, groups, comparisons, SampleRatio(experiment.Key, groups)));
        }

        return reports;
    }

    public async ValueTask<GuideAverages> GetGuideAveragesAsync(AnalyticsFilter filter) =>
        await store.GuideAveragesAsync(filter, CancellationToken.None);

    public async ValueTask<IReadOnlyList<SessionListItem>> ListSessionsAsync(AnalyticsFilter filter, int limit) =>
        await store.ListSessionsAsync(filter, limit, CancellationToken.None);

    /// <summary>
    /// The user's grains first: an activation still in memory would otherwise keep serving the session's metadata and
    /// write its later events after the rows are gone. Once each has stopped writing, the store deletes everything.
    /// (A session the user starts while this runs is not covered: a privacy request is for data that exists.)
    /// </summary>
    public async ValueTask<UserDeletion> DeleteUserAsync(string userId)
    {
        var sessionIds = await store.SessionIdsOfUserAsync(userId, CancellationToken.None);
        await Task.WhenAll(sessionIds.Select(id => GrainFactory.GetGrain<ISessionGrain>(id).ForgetAsync().AsTask()));
        return await store.DeleteUserAsync(userId, CancellationToken.None);
    }

    private static GroupReport BuildGroup(
        GroupAggregate a,
        Dictionary<(string, string), MetricQuantiles> durations,
        Dictionary<(string, string), MetricQuantiles> latencies,
        Dictionary<(string, string), MetricQuantiles> ttfts)
    {
        var feedback = a.FeedbackUp + a.FeedbackDown + a.FeedbackNeutral;
        return new GroupReport(
            a.ExperimentId,
            a.ModelGroup,
            a.Sessions,
            a.EndedSessions,
            Describe(a.EndedSessions, a.MeanDurationMs, durations, a),
            Describe(a.LatencyCount, a.MeanLatencyMs, latencies, a),
            Describe(a.TtftCount, a.MeanTtftMs, ttfts, a),
            a.Prompts,
            a.Responses,
            a.Sessions > 0 ? (double)a.Prompts / a.Sessions : null,
            new FeedbackSummary(
                a.FeedbackUp,
                a.FeedbackDown,
                a.FeedbackNeutral,
                Statistics.Wilson(a.FeedbackUp, feedback),
                Statistics.Wilson(a.FeedbackDown, feedback),
                Statistics.Wilson(a.FeedbackNeutral, feedback)),
            new ImplicitFeedback(
                a.Copies,
                a.Selections,
                Statistics.Wilson(a.SessionsWithCopy, a.Sessions),
                Statistics.Wilson(a.SessionsWithSelection, a.Sessions),
                a.Responses > 0 ? (double)a.Copies / a.Responses : null));
    }

    private static Distribution Describe(long count, double? mean, Dictionary<(string, string), MetricQuantiles> quantiles, GroupAggregate a) =>
        quantiles.TryGetValue((a.ExperimentId, a.ModelGroup), out var q)
            ? new Distribution(count, mean, q.P50, q.P95)
            : new Distribution(count, mean, null, null);

    private GroupComparison Compare(
        GroupReport baseline,
        GroupReport treatment,
        Dictionary<(string, string), MetricQuantiles> durations,
        Dictionary<(string, string), MetricQuantiles> latencies)
    {
        var baseFeedback = baseline.Feedback.Up + baseline.Feedback.Down + baseline.Feedback.Neutral;
        var treatFeedback = treatment.Feedback.Up + treatment.Feedback.Down + treatment.Feedback.Neutral;
        return new GroupComparison(
            baseline.ModelGroup,
            treatment.ModelGroup,
            Statistics.TwoProportionZ(baseline.Feedback.Up, baseFeedback, treatment.Feedback.Up, treatFeedback),
            Bootstrap(latencies, baseline, treatment),
            Bootstrap(durations, baseline, treatment));
    }

    private MeanDifference Bootstrap(Dictionary<(string, string), MetricQuantiles> quantiles, GroupReport baseline, GroupReport treatment)
    {
        IReadOnlyList<double> Sample(GroupReport g) =>
            quantiles.TryGetValue((g.ExperimentId, g.ModelGroup), out var q) ? q.Sketch : [];

        return Statistics.BootstrapMeanDifference(Sample(baseline), Sample(treatment), _options.BootstrapResamples, _options.BootstrapSeed);
    }

    private SampleRatioCheck? SampleRatio(string experimentId, List<GroupReport> groups)
    {
        if (!_options.Experiments.TryGetValue(experimentId, out var experiment) || experiment.Split.Count < 2)
        {
            return null;
        }

        // Groups outside the intended split are traffic that should not exist: they count in the total and their
        // expected share is zero, which the chi-square cannot express, so they alone flag a mismatch.
        var split = experiment.Split.OrderBy(s => s.Key, StringComparer.Ordinal).ToList();
        var observed = split.Select(s => groups.FirstOrDefault(g => g.ModelGroup == s.Key)?.Sessions ?? 0).ToList();
        var stray = groups.Where(g => !experiment.Split.ContainsKey(g.ModelGroup)).Sum(g => g.Sessions);
        var (chi, df, p, expected) = Statistics.ChiSquareGoodnessOfFit(observed, split.Select(s => s.Value).ToList());
        return new SampleRatioCheck(
            split.ToDictionary(s => s.Key, s => s.Value),
            split.Select((s, i) => (s.Key, observed[i])).ToDictionary(x => x.Key, x => x.Item2),
            split.Select((s, i) => (s.Key, expected[i])).ToDictionary(x => x.Key, x => x.Item2),
            chi,
            df,
            p,
            p < _options.SampleRatioAlpha || stray > 0);
    }

    private static Dictionary<(string, string), MetricQuantiles> Index(IReadOnlyList<MetricQuantiles> quantiles) =>
        quantiles.ToDictionary(q => (q.ExperimentId, q.ModelGroup));
}
