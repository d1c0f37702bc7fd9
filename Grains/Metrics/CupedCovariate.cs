namespace SessionTracking.Metrics;

/// <summary>
/// CUPED's covariate of a user (Deng, Xu, Kohavi and Walker, WSDM 2013): the custom metrics over the user's sessions that
/// started in the pre-period [first exposure − <c>Analytics:CupedPreDays</c>, first exposure), of any experiment, folded
/// like a unit's row with the pre-period's start as their exposure (so a window means the same span). Computed once, when
/// the user first enters the experiment's custom user aggregates, and stored with the user's row: x does not change
/// while y does, which keeps Σx, Σx² and Σx·y exact under incremental updates.
/// </summary>
public static class CupedCovariate
{
    /// <param name="sessions">The pre-period's sessions: start time and stored events, in order.</param>
    public static CustomRow Of(MetricSet set, IEnumerable<(long StartMs, IReadOnlyList<StoredEvent> Events)> sessions, long preStartMs)
    {
        var row = CustomRow.Empty;
        foreach (var (startMs, events) in sessions)
        {
            var fold = new SessionMetricFold(set, startMs, preStartMs);
            foreach (var e in events)
            {
                fold.Add(e);
            }

            row = row.Plus(CustomRow.Of(set, fold.Snapshot(), keep: null));
        }

        return row;
    }
}
