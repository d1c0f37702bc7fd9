using System.Text.Json;

namespace SessionTracking.TestSupport;

/// <summary>
/// Recomputes the experiment report of GET /analytics from the JSONL session export, independently of the service's
/// code: per-unit arrays (not moments), two-pass variances, exact percentiles, the formulas of docs/analytics.md. Tests
/// compare every figure of the served report with it.
/// </summary>
public static class ReportRecomputation
{
    private const double Z95 = 1.959963984540054;

    /// <summary>docs/analytics.md, "Bounds": latency_ms and ttft_ms count within [0, 24 h], tokens within [0, 10⁸].</summary>
    private const double MaxMs = 24 * 60 * 60 * 1000;
    private const double MaxTokens = 1e8;

    /// <summary>One session of the export with the figures docs/analytics.md defines.</summary>
    public sealed record Session(string SessionId, string UserId, string ExperimentId, string ModelGroup, long StartMs, Dictionary<string, double> Figures, List<double> Latencies, List<double> Ttfts, double? DurationMs);

    public static List<Session> ParseExport(string jsonl)
    {
        var sessions = new List<Session>();
        foreach (var line in jsonl.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var d = JsonDocument.Parse(line).RootElement;
            var f = new Dictionary<string, double>();
            void Inc(string key, double by = 1) => f[key] = f.GetValueOrDefault(key) + by;
            var latencies = new List<double>();
            var ttfts = new List<double>();
            var copied = false;
            var selected = false;
            foreach (var e in d.GetProperty("events").EnumerateArray())
            {
                var data = e.GetProperty("data");
                switch (e.GetProperty("type").GetString())
                {
                    case "prompt":
                        Inc("prompts");
                        break;
                    case "model_response":
                        Inc("responses");
                        if (Number(data, "latency_ms", MaxMs, Inc) is { } latency)
                        {
                            latencies.Add(latency);
                        }

                        if (Number(data, "ttft_ms", MaxMs, Inc) is { } ttft)
                        {
                            ttfts.Add(ttft);
                        }

                        if (Number(data, "tokens", MaxTokens, Inc) is { } tokens)
                        {
                            Inc("tokens_count");
                            Inc("tokens_sum", tokens);
                        }

                        if (data.TryGetProperty("stopped", out var stopped) && stopped.ValueKind == JsonValueKind.True)
                        {
                            Inc("stopped");
                        }

                        break;
                    case "feedback":
                        Inc("feedback");
                        var value = data.TryGetProperty("feedback", out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
                        Inc(value is "up" or "down" or "neutral" ? value : "other");
                        break;
                    case "copy":
                        Inc("copies");
                        copied = true;
                        break;
                    case "selection":
                        Inc("selections");
                        selected = true;
                        break;
                    case "error":
                        Inc("errors");
                        break;
                }
            }

            var start = DateTimeOffset.Parse(d.GetProperty("start_time").GetString()!, System.Globalization.CultureInfo.InvariantCulture).ToUnixTimeMilliseconds();
            double? duration = d.GetProperty("end_time").ValueKind == JsonValueKind.String
                ? DateTimeOffset.Parse(d.GetProperty("end_time").GetString()!, System.Globalization.CultureInfo.InvariantCulture).ToUnixTimeMilliseconds() - start
                : null;
            f["sessions"] = 1;
            f["ended"] = duration is null ? 0 : 1;
            f["duration"] = duration ?? 0;
            f["latency_n"] = latencies.Count;
            f["latency_sum"] = latencies.Sum();
            f["ttft_n"] = ttfts.Count;
            f["ttft_sum"] = ttfts.Sum();
            f["with_copy"] = copied ? 1 : 0;
            f["with_selection"] = selected ? 1 : 0;
            sessions.Add(new Session(d.GetProperty("session_id").GetString()!, d.GetProperty("user_id").GetString()!, d.GetProperty("experiment_id").GetString()!, d.GetProperty("model_group").GetString()!, start, f, latencies, ttfts, duration));
        }

        return sessions;
    }

    /// <summary>Checks every figure of one served experiment report against the sessions it covers (all groups of the experiment).</summary>
    public static void AssertReport(JsonElement report, IReadOnlyList<Session> experimentSessions, bool usersAsUnits, Action<bool, string> check)
    {
        var byGroup = experimentSessions.GroupBy(s => s.ModelGroup).ToDictionary(g => g.Key, g => g.ToList());
        List<Dictionary<string, double>> Units(string group) => usersAsUnits
            ? [.. byGroup[group].GroupBy(s => s.UserId).Select(u => Sum(u.Select(s => s.Figures)))]
            : [.. byGroup[group].Select(s => s.Figures)];

        foreach (var served in report.GetProperty("groups").EnumerateArray())
        {
            var name = served.GetProperty("model_group").GetString()!;
            var sessions = byGroup[name];
            var units = Units(name);
            var where = $"{report.GetProperty("experiment_id").GetString()}/{name}";
            Count(served, "units", units.Count);
            Count(served, "sessions", sessions.Count);
            Count(served, "ended_sessions", sessions.Count(s => s.DurationMs is not null));
            Distribution(served.GetProperty("duration_ms"), sessions.Where(s => s.DurationMs is not null).Select(s => s.DurationMs!.Value).ToList(), units, "duration", "ended", where + " duration");
            Distribution(served.GetProperty("latency_ms"), [.. sessions.SelectMany(s => s.Latencies)], units, "latency_sum", "latency_n", where + " latency");
            Distribution(served.GetProperty("time_to_first_token_ms"), [.. sessions.SelectMany(s => s.Ttfts)], units, "ttft_sum", "ttft_n", where + " ttft");
            Count(served, "prompts", Total(units, "prompts"));
            Count(served, "responses", Total(units, "responses"));
            Estimate(served.GetProperty("prompts_per_session"), Ratio(units, "prompts", "sessions"), where + " prompts/session");
            var feedback = served.GetProperty("feedback");
            foreach (var (field, key) in new[] { ("up", "up"), ("down", "down"), ("neutral", "neutral"), ("other", "other"), ("total", "feedback") })
            {
                Count(feedback, field, Total(units, key));
            }

            Rate(feedback.GetProperty("up_rate"), Ratio(units, "up", "feedback"), where + " up rate");
            Rate(feedback.GetProperty("down_rate"), Ratio(units, "down", "feedback"), where + " down rate");
            Rate(feedback.GetProperty("neutral_rate"), Ratio(units, "neutral", "feedback"), where + " neutral rate");
            var implicitFeedback = served.GetProperty("implicit");
            Count(implicitFeedback, "copies", Total(units, "copies"));
            Count(implicitFeedback, "selections", Total(units, "selections"));
            Rate(implicitFeedback.GetProperty("sessions_with_copy"), Ratio(units, "with_copy", "sessions"), where + " with copy");
            Rate(implicitFeedback.GetProperty("sessions_with_selection"), Ratio(units, "with_selection", "sessions"), where + " with selection");
            Estimate(implicitFeedback.GetProperty("copies_per_response"), Ratio(units, "copies", "responses"), where + " copies/response");
            Count(served, "errors", Total(units, "errors"));
            Estimate(served.GetProperty("errors_per_session"), Ratio(units, "errors", "sessions"), where + " errors/session");
            Count(served, "stopped", Total(units, "stopped"));
            Rate(served.GetProperty("stopped_rate"), Ratio(units, "stopped", "responses"), where + " stopped");
            Estimate(served.GetProperty("tokens_per_response"), Ratio(units, "tokens_sum", "tokens_count"), where + " tokens/response");
            Count(served, "excluded_values", Total(units, "excluded"));
        }

        var baseline = report.GetProperty("baseline").GetString()!;
        foreach (var comparison in report.GetProperty("comparisons").EnumerateArray())
        {
            var treatment = comparison.GetProperty("treatment").GetString()!;
            check(comparison.GetProperty("baseline").GetString() == baseline, "comparison baseline");
            foreach (var (field, numerator, denominator) in new[] { ("up_rate", "up", "feedback"), ("latency_ms", "latency_sum", "latency_n"), ("duration_ms", "duration", "ended"), ("prompts_per_session", "prompts", "sessions"), ("errors_per_session", "errors", "sessions") })
            {
                var b = Ratio(Units(baseline), numerator, denominator);
                var t = Ratio(Units(treatment), numerator, denominator);
                var served = comparison.GetProperty(field);
                var where = $"{treatment} vs {baseline} {field}";
                Close(served, "value", t.Value - b.Value, where);
                if (b.Variance is { } vb && t.Variance is { } vt && vb + vt > 0)
                {
                    var se = Math.Sqrt(vb + vt);
                    var difference = t.Value!.Value - b.Value!.Value;
                    Close(served, "low", difference - (Z95 * se), where);
                    Close(served, "high", difference + (Z95 * se), where);
                    Close(served, "z", difference / se, where);
                }
            }
        }

        void Count(JsonElement element, string field, double expected) =>
            check(element.GetProperty(field).GetDouble() == expected, $"{field}: served {element.GetProperty(field)}, recomputed {expected}");

        void Close(JsonElement element, string field, double? expected, string where)
        {
            var actual = element.GetProperty(field);
            if (expected is not { } e)
            {
                check(actual.ValueKind == JsonValueKind.Null, $"{where} {field}: served {actual}, recomputed null");
                return;
            }

            check(actual.ValueKind == JsonValueKind.Number && Math.Abs(actual.GetDouble() - e) <= 1e-9 * Math.Max(1, Math.Abs(e)), $"{where} {field}: served {actual}, recomputed {e}");
        }

        void Estimate(JsonElement served, (double? Value, double? Variance) ratio, string where)
        {
            Close(served, "value", ratio.Value, where);
            Close(served, "low", ratio.Variance is { } v ? ratio.Value - (Z95 * Math.Sqrt(v)) : null, where);
            Close(served, "high", ratio.Variance is { } w ? ratio.Value + (Z95 * Math.Sqrt(w)) : null, where);
        }

        void Rate(JsonElement served, (double? Value, double? Variance) ratio, string where)
        {
            Close(served, "rate", ratio.Value, where);
            Close(served, "low", ratio.Variance is { } v ? Math.Max(0, ratio.Value!.Value - (Z95 * Math.Sqrt(v))) : null, where);
            Close(served, "high", ratio.Variance is { } w ? Math.Min(1, ratio.Value!.Value + (Z95 * Math.Sqrt(w))) : null, where);
        }

        void Distribution(JsonElement served, List<double> values, List<Dictionary<string, double>> units, string sum, string count, string where)
        {
            Count(served, "count", values.Count);
            var mean = Ratio(units, sum, count);
            Close(served, "mean", mean.Value, where);
            Close(served, "mean_low", mean.Variance is { } v ? mean.Value - (Z95 * Math.Sqrt(v)) : null, where);
            Close(served, "mean_high", mean.Variance is { } w ? mean.Value + (Z95 * Math.Sqrt(w)) : null, where);
            if (values.Count >= 2)
            {
                var m = values.Average();
                Close(served, "standard_deviation", Math.Sqrt(values.Sum(x => (x - m) * (x - m)) / (values.Count - 1)), where);
            }

            values.Sort();
            foreach (var (field, p) in new[] { ("p50", 0.5), ("p95", 0.95) })
            {
                if (values.Count == 0)
                {
                    check(served.GetProperty(field).ValueKind == JsonValueKind.Null, $"{where} {field} of nothing");
                    continue;
                }

                var exact = Percentile(values, p);
                var estimate = served.GetProperty(field).GetDouble();
                check(Math.Abs(estimate - exact) <= (0.01 * Math.Abs(exact)) + 1e-9, $"{where} {field}: served {estimate}, exact {exact} (more than 1 % apart)");
            }
        }
    }

    /// <summary>Ratio of sums over units and its delta-method variance, from centred sums (two passes).</summary>
    public static (double? Value, double? Variance) Ratio(IReadOnlyList<Dictionary<string, double>> units, string numerator, string denominator)
    {
        var n = units.Count;
        var xs = units.Select(u => u.GetValueOrDefault(denominator)).ToArray();
        var ys = units.Select(u => u.GetValueOrDefault(numerator)).ToArray();
        if (n == 0 || xs.Sum() == 0)
        {
            return (null, null);
        }

        var r = ys.Sum() / xs.Sum();
        if (n < 2)
        {
            return (r, null);
        }

        var mx = xs.Average();
        var my = ys.Average();
        double sxx = 0, syy = 0, sxy = 0;
        for (var i = 0; i < n; i++)
        {
            sxx += (xs[i] - mx) * (xs[i] - mx);
            syy += (ys[i] - my) * (ys[i] - my);
            sxy += (xs[i] - mx) * (ys[i] - my);
        }

        sxx /= n - 1;
        syy /= n - 1;
        sxy /= n - 1;
        return (r, Math.Max(0, (syy - (2 * r * sxy) + (r * r * sxx)) / (n * mx * mx)));
    }

    public static double Percentile(IReadOnlyList<double> sorted, double p)
    {
        var h = (sorted.Count - 1) * p;
        var lo = (int)Math.Floor(h);
        var hi = Math.Min(lo + 1, sorted.Count - 1);
        return sorted[lo] + ((h - lo) * (sorted[hi] - sorted[lo]));
    }

    private static double Total(List<Dictionary<string, double>> units, string key) => units.Sum(u => u.GetValueOrDefault(key));

    private static Dictionary<string, double> Sum(IEnumerable<Dictionary<string, double>> figures)
    {
        var total = new Dictionary<string, double>();
        foreach (var f in figures)
        {
            foreach (var (key, value) in f)
            {
                total[key] = total.GetValueOrDefault(key) + value;
            }
        }

        return total;
    }

    /// <summary>
    /// A JSON number within [0, <paramref name="max"/>]; null for anything else. A JSON number outside (or beyond any
    /// double, such as 1e400) is an excluded value: <paramref name="inc"/>("excluded").
    /// </summary>
    private static double? Number(JsonElement data, string name, double max, Action<string, double> inc)
    {
        if (data.ValueKind != JsonValueKind.Object || !data.TryGetProperty(name, out var v) || v.ValueKind != JsonValueKind.Number)
        {
            return null;
        }

        var value = double.Parse(v.GetRawText(), System.Globalization.CultureInfo.InvariantCulture);
        if (value is >= 0 && value <= max)
        {
            return value;
        }

        inc("excluded", 1);
        return null;
    }
}
