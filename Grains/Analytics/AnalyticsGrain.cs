using Microsoft.Extensions.Options;
using Orleans.Concurrency;
using SessionTracking.Metrics;
using SessionTracking.ReadModel;
using SessionTracking.Storage;

namespace SessionTracking.Analytics;

/// <summary>
/// Turns the read model's moments and sketches into the experiment report: figures at the experiment's unit, delta-method
/// intervals, Welch differences against the baseline and the sample-ratio check (docs/analytics.md). Stateless worker: every silo answers locally, next to its store.
/// </summary>
[StatelessWorker]
public sealed class AnalyticsGrain(IAnalyticsStore store, IOptions<AnalyticsOptions> options, MetricCatalog metrics, TimeProvider clock) : Grain, IAnalyticsGrain
{
    /// <summary>
    /// The largest sample size a plan answers: 2⁵³ − 1, the largest integer a JSON number keeps exactly in every client
    /// (JavaScript's Number.MAX_SAFE_INTEGER), and more units than any experiment has.
    /// </summary>
    public const long MaxUnitsPerGroup = 9_007_199_254_740_991;

    private readonly AnalyticsOptions _options = options.Value;

    public async ValueTask<ReportsResult> GetReportsAsync(AnalyticsFilter filter, string? baseline, AnalysisUnit? unit)
    {
        var usersAsUnits = unit == AnalysisUnit.User || (unit is null && _options.Experiments.Values.Any(e => e.Unit == AnalysisUnit.User));
        var figures = await store.ReadGroupFiguresAsync(filter.ExperimentId, filter.From, filter.To, usersAsUnits, CancellationToken.None);

        // Sequential results count from the experiment's start: the same read without the window's beginning.
        var origin = filter.From is null ? figures : await store.ReadGroupFiguresAsync(filter.ExperimentId, null, filter.To, usersAsUnits, CancellationToken.None);
        var states = metrics.IsEmpty ? new Dictionary<string, MetricBackfillState>() : await MetricStatesAsync();
        var reports = new List<ExperimentReport>();
        foreach (var experiment in figures.GroupBy(f => f.ExperimentId))
        {
            var groups = experiment.ToList(); // every group: the baseline and the SRM check do not depend on the group filter
            var experimentUnit = unit ?? UnitOf(experiment.Key);
            var baselineGroup = baseline is null ? groups[0] : groups.FirstOrDefault(g => g.ModelGroup == baseline);
            if (baselineGroup is null)
            {
                return new ReportsResult([], $"baseline '{baseline}' names no group of experiment '{experiment.Key}' (its groups: {string.Join(", ", groups.Select(g => g.ModelGroup))}).");
            }

            var reported = groups.Where(g => filter.ModelGroup is null || g.ModelGroup == filter.ModelGroup).ToList();
            if (reported.Count == 0)
            {
                continue;
            }

            CustomMetricReport? custom = null, customOrigin = null;
            if (!metrics.IsEmpty)
            {
                custom = new CustomMetricReport(metrics, states, experiment.Key, experimentUnit, groups);
                customOrigin = filter.From is null ? custom : new CustomMetricReport(metrics, states, experiment.Key, experimentUnit, [.. origin.Where(o => o.ExperimentId == experiment.Key)]);
            }

            var decisions = new ExperimentDecisions(_options, _options.Experiments.GetValueOrDefault(experiment.Key), experimentUnit, custom, customOrigin);
            GroupFigures? Origin(GroupFigures g) => origin.FirstOrDefault(o => o.ExperimentId == g.ExperimentId && o.ModelGroup == g.ModelGroup);
            var comparisons = reported
                .Where(g => g != baselineGroup)
                .Select(g => decisions.Compare(baselineGroup, g, Origin(baselineGroup), Origin(g)))
                .ToList();
            reports.Add(new ExperimentReport(
                experiment.Key,
                experimentUnit,
                baselineGroup.ModelGroup,
                reported.Select(g => BuildGroup(g, experimentUnit) with { CustomMetrics = custom?.Values(g) }).ToList(),
                ExperimentDecisions.AdjustPValues(comparisons),
                SampleRatio(experiment.Key, groups, experimentUnit),
                new PercentileMethod("ddsketch", QuantileSketch.RelativeAccuracy),
                await store.ExperimentStartAsync(experiment.Key, CancellationToken.None),
                _options.Alpha));
        }

        return new ReportsResult(reports);
    }

    public async ValueTask<SamplePlan> PlanAsync(PlanRequest request)
    {
        var unit = request.Unit ?? (request.ExperimentId is { } id ? UnitOf(id) : AnalysisUnit.Session);
        SamplePlan Answer(string method, double? baseline, double? sd, double? n, double? perDay, string? problem = null) => new(
            request.Metric, method, unit, baseline, sd, request.MinimumDetectableEffect, request.Alpha, request.Power,
            n is { } units ? (long)Math.Ceiling(units) : null, perDay, n is { } u && perDay > 0 ? u / perDay : null, problem ?? Unfit(n, sd is not null));

        var traffic = request.ExperimentId is { } experimentId ? await TrafficAsync(experimentId, unit) : (null, null);
        if (request.BaselineRate is { } rate)
        {
            return Answer("two proportions (Fleiss, no continuity correction)", rate, null, Statistics.SampleSizeForProportions(rate, rate + request.MinimumDetectableEffect, request.Alpha, request.Power), traffic.PerDay);
        }

        if (request.BaselineStandardDeviation is { } sd)
        {
            return Answer("two means", null, sd, Statistics.SampleSizeForMeans(sd, request.MinimumDetectableEffect, request.Alpha, request.Power), traffic.PerDay);
        }

        // From the experiment: the baseline group's value of the metric and its per-unit standard deviation, σ² = n·Var(R).
        if (traffic.Baseline is not { } baselineGroup)
        {
            return Answer("two means (delta method)", null, null, null, null, "Give baseline_rate or baseline_sd, or an experiment_id with data.");
        }

        double? value, variance;
        double unitCount;
        if (ExperimentDecisions.Ratios.TryGetValue(request.Metric, out var ratio))
        {
            var units = baselineGroup.Units(unit);
            (value, variance) = Statistics.Ratio(units, ratio.Numerator, ratio.Denominator);
            unitCount = units.Units;
        }
        else
        {
            // A custom figure: the same from its aggregate (unknown names are refused before the call).
            var states = await MetricStatesAsync();
            var custom = new CustomMetricReport(metrics, states, request.ExperimentId!, unit, [baselineGroup]);
            if (custom.Figure(request.Metric) is not { } figure || custom.Ratio(figure, baselineGroup) is not { } r)
            {
                return Answer("two means (delta method)", null, null, null, traffic.PerDay, $"{request.Metric} cannot be computed for the baseline group at this unit (not a tested figure, incomplete, or unavailable: GET /analytics/metrics).");
            }

            (value, variance, unitCount) = r;
        }

        if (value is null || variance is null)
        {
            return Answer("two means (delta method)", value, null, null, traffic.PerDay, $"The baseline group has too little data for {request.Metric}.");
        }

        var perUnitSd = Math.Sqrt(variance.Value * unitCount);
        if (!double.IsFinite(perUnitSd))
        {
            return Answer("two means (delta method)", value, null, null, traffic.PerDay, $"The baseline group's standard deviation of {request.Metric} is beyond the range of the arithmetic.");
        }

        return Answer("two means (delta method)", value, perUnitSd, perUnitSd == 0 ? null : Statistics.SampleSizeForMeans(perUnitSd, request.MinimumDetectableEffect, request.Alpha, request.Power), traffic.PerDay);
    }

    /// <summary>
    /// Why a computed sample size cannot be answered, or null when it can: beyond <see cref="MaxUnitsPerGroup"/> (or not a
    /// number at all), the change is too small to ever detect; zero (the formula underflowed) means it is so large against
    /// the spread that the arithmetic cannot tell how many units it takes. Either way a count would be a lie.
    /// </summary>
    private static string? Unfit(double? n, bool fromStandardDeviation)
    {
        var spread = fromStandardDeviation ? "'baseline_sd' (or the baseline's standard deviation)" : "'baseline_rate'";
        return n switch
        {
            null => null,
            { } units when units > 0 && Math.Ceiling(units) <= MaxUnitsPerGroup => null,
            { } units when units == 0 => $"'mde' is too large against {spread}: the sample size underflows to zero units.",
            _ => $"'mde' is too small against {spread}: the plan needs more than {MaxUnitsPerGroup:N0} units per group.",
        };
    }

    /// <summary>The experiment's baseline group (first by name) and its units per day and group since its first session.</summary>
    private async Task<(GroupFigures? Baseline, double? PerDay)> TrafficAsync(string experimentId, AnalysisUnit unit)
    {
        var figures = await store.ReadGroupFiguresAsync(experimentId, null, null, unit == AnalysisUnit.User, CancellationToken.None);
        var start = await store.ExperimentStartAsync(experimentId, CancellationToken.None);
        if (figures.Count == 0 || start is null)
        {
            return (null, null);
        }

        var days = Math.Max((clock.GetUtcNow() - start.Value).TotalDays, 1.0 / 24); // at least an hour: a first burst is no rate
        var units = figures.Sum(g => g.Units(unit).Units);
        return (figures[0], units / (double)figures.Count / days);
    }

    /// <summary>
    /// The guide's pipelines. An average the store cannot compute in doubles (a MongoDB <c>$avg</c> over raw event
    /// values, which the value bounds do not filter) is null, as for a group without values.
    /// </summary>
    public async ValueTask<GuideAverages> GetGuideAveragesAsync(AnalyticsFilter filter)
    {
        var averages = await store.GuideAveragesAsync(filter, CancellationToken.None);
        static List<GroupAverage> Finite(IReadOnlyList<GroupAverage> rows) => [.. rows.Select(a => a with { Average = Statistics.Finite(a.Average) })];
        return new GuideAverages(Finite(averages.AverageLatency), Finite(averages.AverageDuration));
    }

    public async ValueTask<MetricCatalogReport> ListMetricsAsync()
    {
        var states = metrics.IsEmpty ? new Dictionary<string, MetricBackfillState>() : await MetricStatesAsync();
        var list = new List<MetricDescription>();
        foreach (var name in AnalyticsOptions.ComparedMetrics.Concat(AnalyticsOptions.GuardrailMetrics).Distinct().Order(StringComparer.Ordinal))
        {
            list.Add(new MetricDescription(name, "builtin", "built-in figure of the report (docs/analytics.md)", null, !(name is "latency_ms" or "latency_p95" or "ttft_ms" or "ttft_p95" or "duration_ms" or "errors_per_session" or "stopped_rate"), null, [name], [AnalysisUnit.Session, AnalysisUnit.User], "complete", null));
        }

        var figures = CustomMetricReport.FiguresOf(metrics.Set);
        foreach (var name in metrics.Set.StoredMetrics)
        {
            var key = metrics.Set.KeyOf(name);
            var state = states.GetValueOrDefault(key);
            var definition = metrics.Set.ByName.GetValueOrDefault(name);
            list.Add(new MetricDescription(
                name,
                definition is null ? "cost" : definition.Kind.ToString().ToLowerInvariant(),
                definition is null ? "cost of model_response events from the price table: (input_tokens × input price + output_tokens × output price) / 10⁶" : definition.FoldText,
                key,
                definition?.HigherIsBetter ?? false,
                definition?.Cap?.ToString(),
                [.. figures.Where(f => f.Metric == name).Select(f => f.Name)],
                definition?.Kind == MetricKind.Retention ? [AnalysisUnit.User] : [AnalysisUnit.Session, AnalysisUnit.User],
                state?.State ?? "pending",
                state));
        }

        var prices = metrics.Set.Prices.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => new ModelPriceInfo(p.Key, p.Value.InputPerMillion, p.Value.OutputPerMillion)).ToList();
        return new MetricCatalogReport(list, prices);
    }

    private async Task<Dictionary<string, MetricBackfillState>> MetricStatesAsync() =>
        (await store.ReadMetricStatesAsync(CancellationToken.None)).ToDictionary(s => s.Key, StringComparer.Ordinal);

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

    private AnalysisUnit UnitOf(string experimentId) =>
        _options.Experiments.TryGetValue(experimentId, out var experiment) ? experiment.Unit : AnalysisUnit.Session;

    private static GroupReport BuildGroup(GroupFigures g, AnalysisUnit unit)
    {
        var units = g.Units(unit);
        var s = g.Sessions; // value-level figures (counts, SDs) do not depend on the unit
        long Count(MetricField field) => (long)s.Sum(field);
        Proportion Rate(MetricField successes, MetricField trials)
        {
            var (value, variance) = Statistics.Ratio(units, successes, trials);
            var half = variance is { } v ? Statistics.Z95 * Math.Sqrt(v) : (double?)null;
            return new Proportion(Count(successes), Count(trials), value, value - half is { } low ? Math.Max(0, low) : null, value + half is { } high ? Math.Min(1, high) : null);
        }

        Distribution Describe(MetricField count, MetricField sum, double? sumOfSquares, QuantileSketch sketch)
        {
            var mean = Statistics.Interval(Statistics.Ratio(units, sum, count));
            return new Distribution(
                Count(count),
                mean.Value,
                sketch.Quantile(0.5),
                sketch.Quantile(0.95),
                sumOfSquares is { } squares ? Statistics.StandardDeviation(s.Sum(count), s.Sum(sum), squares) : null,
                mean.Low,
                mean.High);
        }

        return new GroupReport(
            g.ExperimentId,
            g.ModelGroup,
            unit,
            units.Units,
            Count(MetricField.Sessions),
            Count(MetricField.Ended),
            Describe(MetricField.Ended, MetricField.DurationMs, s.Cross(MetricField.DurationMs, MetricField.DurationMs), g.DurationMs),
            Describe(MetricField.LatencyCount, MetricField.LatencySum, s.Sum(MetricField.LatencySumSquares), g.LatencyMs),
            Describe(MetricField.TtftCount, MetricField.TtftSum, s.Sum(MetricField.TtftSumSquares), g.TimeToFirstTokenMs),
            Count(MetricField.Prompts),
            Count(MetricField.Responses),
            Statistics.Interval(Statistics.Ratio(units, MetricField.Prompts, MetricField.Sessions)),
            new FeedbackSummary(
                Count(MetricField.FeedbackUp),
                Count(MetricField.FeedbackDown),
                Count(MetricField.FeedbackNeutral),
                Rate(MetricField.FeedbackUp, MetricField.Feedback),
                Rate(MetricField.FeedbackDown, MetricField.Feedback),
                Rate(MetricField.FeedbackNeutral, MetricField.Feedback),
                Count(MetricField.FeedbackOther),
                Count(MetricField.Feedback)),
            new ImplicitFeedback(
                Count(MetricField.Copies),
                Count(MetricField.Selections),
                Rate(MetricField.SessionsWithCopy, MetricField.Sessions),
                Rate(MetricField.SessionsWithSelection, MetricField.Sessions),
                Statistics.Interval(Statistics.Ratio(units, MetricField.Copies, MetricField.Responses))),
            Count(MetricField.Errors),
            Statistics.Interval(Statistics.Ratio(units, MetricField.Errors, MetricField.Sessions)),
            Count(MetricField.Stopped),
            Rate(MetricField.Stopped, MetricField.Responses),
            Statistics.Interval(Statistics.Ratio(units, MetricField.TokensSum, MetricField.TokensCount)),
            Count(MetricField.ExcludedValues));
    }

    private SampleRatioCheck? SampleRatio(string experimentId, List<GroupFigures> groups, AnalysisUnit unit)
    {
        if (!_options.Experiments.TryGetValue(experimentId, out var experiment) || experiment.Split.Count < 2)
        {
            return null;
        }

        // Groups outside the intended split are traffic that should not exist: they count in the total and their
        // expected share is zero, which the chi-square cannot express, so they alone flag a mismatch.
        var split = experiment.Split.OrderBy(s => s.Key, StringComparer.Ordinal).ToList();
        var observed = split.Select(s => groups.FirstOrDefault(g => g.ModelGroup == s.Key) is { } g ? g.Units(unit).Units : 0).ToList();
        var stray = groups.Where(g => !experiment.Split.ContainsKey(g.ModelGroup)).Sum(g => g.Units(unit).Units);
        var (chi, df, p, expected) = Statistics.ChiSquareGoodnessOfFit(observed, split.Select(s => s.Value).ToList());
        return new SampleRatioCheck(
            split.ToDictionary(s => s.Key, s => s.Value),
            split.Select((s, i) => (s.Key, observed[i])).ToDictionary(x => x.Key, x => x.Item2),
            split.Select((s, i) => (s.Key, expected[i])).ToDictionary(x => x.Key, x => x.Item2),
            chi,
            df,
            p,
            p < _options.SampleRatioAlpha || stray > 0,
            unit);
    }
}
