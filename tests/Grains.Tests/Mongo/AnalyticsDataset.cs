using System.Globalization;
using SessionTracking.Metrics;
using SessionTracking.ReadModel;
using SessionTracking.Storage;

namespace SessionTracking.Grains.Tests.Mongo;

/// <summary>
/// A fixed dataset written through the session-store port, so the same calls seed SQLite and MongoDB. Experiments
/// exp-a and exp-b are Analytics.Tests' Dataset (hand-computed there); exp-c adds what tells the adapters apart:
/// many latencies with ties and fractions (percentiles between ranks, a sketch stride above 1), latencies that are not
/// numbers (string, boolean, array, missing), two sessions with the same start (tie-break by id), a session without
/// events, group names whose order depends on the collation ("Y" before "x" in binary order), and legacy rows; c5 gives
/// a user two sessions in one group and starts on an hour boundary. Every flush carries the read-model change the grain
/// would send, so both stores build their read model as in production. With custom metrics, each session is created with
/// its custom row and folded with the context a grain uses (the exposure from the store's FirstStartOfUserAsync when the
/// experiment's unit is users and a metric counts from the exposure).
/// </summary>
public static class AnalyticsDataset
{
    public const long T0 = 1_700_000_000_000;
    public const long Day = 86_400_000;
    public const long Hour = 3_600_000;

    /// <summary>Two whole hours after the first hour boundary following T0.</summary>
    public const long C5Start = 1_700_010_000_000;

    public static async Task SeedAsync(ISessionStore store, MetricCatalog? metrics = null)
    {
        var ct = CancellationToken.None;
        await Session("c1", "alice", "exp-a", "control", T0, T0 + 60_000,
            ("prompt", """{"text":"hi"}"""), ("model_response", """{"latency_ms":1000,"ttft_ms":200}"""),
            ("feedback", """{"feedback":"up"}"""), ("copy", """{"selected_text":"x"}"""));
        await Session("c2", "bob", "exp-a", "control", T0 + 1000, T0 + 1000 + 120_000,
            ("prompt", "{}"), ("model_response", """{"latency_ms":2000}"""), ("prompt", "{}"),
            ("model_response", """{"latency_ms":3000}"""), ("feedback", """{"feedback":"down"}"""));
        await Session("c3", "carol", "exp-a", "control", T0 + 2000, T0 + 2000 + 30_000,
            ("prompt", "{}"), ("model_response", """{"latency_ms":"fast"}"""), ("feedback", """{"feedback":"up"}"""),
            ("selection", """{"selected_text":"y"}"""));
        await Session("c4", "dave", "exp-a", "control", T0 + 3000, null,
            ("prompt", "{}"), ("model_response", """{"latency_ms":4000}"""), ("feedback", """{"feedback":"neutral"}"""));
        await Session("t1", "erin", "exp-a", "treatment", T0 + 500, T0 + 500 + 10_000,
            ("prompt", "{}"), ("model_response", """{"latency_ms":500}"""), ("feedback", """{"feedback":"up"}"""),
            ("feedback", """{"feedback":"up"}"""), ("copy", "{}"), ("copy", "{}"));
        await Session("t2", "frank", "exp-a", "treatment", T0 + 1500, T0 + 1500 + 20_000,
            ("prompt", "{}"), ("model_response", """{"latency_ms":700,"ttft_ms":100}"""), ("feedback", """{"feedback":"up"}"""));
        await Session("b1", "alice", "exp-b", "control", T0 + Day, T0 + Day + 40_000,
            ("prompt", "{}"), ("model_response", """{"latency_ms":6000}"""));

        // bob's second session of exp-a/control (users as units add it to c2), starting exactly on an hour, with a
        // feedback value outside up/down/neutral.
        await Session("c5", "bob", "exp-a", "control", C5Start, C5Start + 5_000,
            ("prompt", "{}"), ("model_response", """{"latency_ms":1500,"ttft_ms":300}"""), ("feedback", """{"feedback":"thumbs"}"""));

        // exp-c: 41 numeric latencies over d1 and d2 (ties, fractions), four responses whose latency is not a number.
        var d1 = Enumerable.Range(0, 30).Select(i => ("model_response", string.Create(CultureInfo.InvariantCulture, $$"""{"latency_ms":{{(i * 37 % 11 * 100) + (i % 4 == 0 ? 12.5 : 0)}},"ttft_ms":{{i % 5 * 10}}}""")))
            .Concat([("model_response", """{"latency_ms":true}"""), ("model_response", """{"latency_ms":[1,2]}"""), ("model_response", "{}"), ("copy", "{}"), ("copy", "{}")]);
        await Session("d1", "gina", "exp-c", "x", T0 + (2 * Day), T0 + (2 * Day) + 5_000, [.. d1]);
        var d2 = Enumerable.Range(0, 11).Select(i => ("model_response", $$"""{"latency_ms":{{950 - (i * 90)}}}"""))
            .Append(("model_response", """{"latency_ms":"slow","ttft_ms":"x"}"""));
        await Session("d2", "hank", "exp-c", "x", T0 + (2 * Day), T0 + (2 * Day) + 9_000, [.. d2]);
        await Session("d3", "alice", "exp-c", "Y", T0 + (2 * Day) + 10, null, ("model_response", """{"latency_ms":42.25,"ttft_ms":7}"""), ("selection", "{}"));
        await Session("d4", "ivan", "exp-c", "Y", T0 + (2 * Day) + 20, T0 + (2 * Day) + 80);

        // Legacy rows: the user's own, rows of the user's sessions without a user id, other users' rows.
        await store.AppendAsync(
            new SessionFlush(
                "c1",
                [],
                [Query("c1", "alice"), Query("c1", null)],
                [new LegacyEvent("alice", "c1", "click", "{}", Time(T0 + 10))],
                null),
            ct);
        await store.WriteLegacyRowsAsync(
            [Query(null, "alice"), Query(null, "bob"), Query("c2", "bob")],
            [new LegacyEvent("alice", null, "view", "{}", Time(T0 + 20)), new LegacyEvent("bob", null, "view", "{}", Time(T0 + 30)), new LegacyEvent("bob", "b1", "click", "{}", Time(T0 + 40))],
            ct);

        async Task Session(string id, string user, string experiment, string group, long start, long? end, params (string Type, string Data)[] events)
        {
            var session = new SessionInfo(id, user, experiment, group, Time(start), null, """{"device":"test, \"quoted\"","viewport":{"width":1920}}""");
            var exposure = start;
            if (metrics is { UsesExposure: true } && metrics.UnitOf(experiment) == Analytics.AnalysisUnit.User)
            {
                exposure = (await store.FirstStartOfUserAsync(experiment, user, Time(start), ct))?.ToUnixTimeMilliseconds() ?? start;
            }

            var context = metrics is null || metrics.IsEmpty ? null : new CustomMetricContext(metrics.Set, start, exposure);
            var durable = context is null ? SessionSummary.Started() : SessionSummary.OfNewSession([], [], context);
            await store.CreateSessionAsync(session, [], context is null ? null : durable, ct);
            var stored = events.Select((e, i) => new StoredEvent(i + 1, start + ((i + 1) * 1000), e.Type, e.Data, $"{id}-e{i + 1}", start + ((i + 1) * 1000))).ToArray();

            // Several flushes, so events cross buckets through separate appends as a live session's do; each carries
            // the read-model change the grain would send (SessionGrain folds accepted events with the same builder).
            var builder = new SessionSummaryBuilder(durable, custom: context);
            foreach (var chunk in stored.Chunk(4))
            {
                var samples = new List<MetricSample>();
                foreach (var accepted in chunk)
                {
                    builder.Add(accepted, samples);
                }

                durable = await FlushAsync(new SessionFlush(id, chunk, [], [], null, session), durable, builder, samples);
            }

            if (end is { } e)
            {
                var samples = new List<MetricSample>();
                builder.End(session.StartTime, Time(e), samples);
                await FlushAsync(new SessionFlush(id, [], [], [], Time(e), session), durable, builder, samples);
            }
        }

        async Task<SessionSummary> FlushAsync(SessionFlush flush, SessionSummary durable, SessionSummaryBuilder builder, List<MetricSample> samples)
        {
            var current = builder.Snapshot();
            await store.AppendAsync(flush with { ReadModel = new ReadModelUpdate(durable, current, samples) }, ct);
            return current;
        }
    }

    public static DateTimeOffset Time(long ms) => DateTimeOffset.FromUnixTimeMilliseconds(ms);

    private static QueryRow Query(string? sessionId, string? userId) =>
        new(sessionId, userId, "control", "q", "r", "m", "p", 100, "[]", Time(T0 + 5));
}
