using SessionTracking.Bench;

// Helpers of bench/run.sh that wrk cannot do: create sessions, paced (open-loop) load, and in-process measurements.
return args switch
{
    ["start-sessions", var url, var count, var output] => await HttpLoad.StartSessionsAsync(new Uri(url), int.Parse(count, System.Globalization.CultureInfo.InvariantCulture), output),
    ["paced", var url, var ids, var rate, var seconds] => await HttpLoad.PacedAsync(new Uri(url), ids, double.Parse(rate, System.Globalization.CultureInfo.InvariantCulture), double.Parse(seconds, System.Globalization.CultureInfo.InvariantCulture)),
    ["memory", var count] => await InProcessSilo.MemoryPerIdleSessionAsync(int.Parse(count, System.Globalization.CultureInfo.InvariantCulture)),
    ["analytics-load", var url, var experiment, var first, var count] => await AnalyticsLoad.LoadAsync(new Uri(url), experiment, int.Parse(first, System.Globalization.CultureInfo.InvariantCulture), int.Parse(count, System.Globalization.CultureInfo.InvariantCulture)),
    ["analytics-time", var url, var path, var warm] => await AnalyticsLoad.TimeReportAsync(new Uri(url), path, int.Parse(warm, System.Globalization.CultureInfo.InvariantCulture)),
    ["append-cost", var events, var appends] => await InProcessSilo.AppendCostAsync(int.Parse(events, System.Globalization.CultureInfo.InvariantCulture), int.Parse(appends, System.Globalization.CultureInfo.InvariantCulture)),
    _ => Usage(),
};

static int Usage()
{
    Console.Error.WriteLine("usage: start-sessions URL COUNT FILE | paced URL IDS_FILE RATE SECONDS | memory COUNT | append-cost EVENTS APPENDS | analytics-load URL EXPERIMENT FIRST COUNT | analytics-time URL PATH WARM_RUNS");
    return 2;
}
