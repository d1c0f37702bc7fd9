namespace SessionTracking.ReadModel;

/// <summary>
/// The figures a session grain keeps of its session (the read model). Each is a total over the session's events, so a
/// user's figures are the sums of its sessions' and a group's the sums of its units'. The order is the storage order:
/// append new fields at the end (stored moments are indexed by it).
/// </summary>
public enum MetricField
{
    /// <summary>1 for a session; a user's number of sessions.</summary>
    Sessions,
    Ended,

    /// <summary>end_time − start_time of an ended session, ms.</summary>
    DurationMs,
    Prompts,
    Responses,

    /// <summary>model_response events whose data.latency_ms is a JSON number within its bounds, their sum and sum of squares.</summary>
    LatencyCount,
    LatencySum,
    LatencySumSquares,
    TtftCount,
    TtftSum,
    TtftSumSquares,

    /// <summary>model_response events whose data.tokens is a JSON number within its bounds, and the sum.</summary>
    TokensCount,
    TokensSum,

    /// <summary>model_response events with data.stopped = true (the user stopped the answer).</summary>
    Stopped,

    /// <summary>Every feedback event, whatever its value: the denominator of the feedback rates.</summary>
    Feedback,
    FeedbackUp,
    FeedbackDown,
    FeedbackNeutral,

    /// <summary>Feedback events whose data.feedback is not "up", "down" or "neutral" (missing, another string, a number).</summary>
    FeedbackOther,
    Copies,
    Selections,

    /// <summary>1 when the session has at least one copy event; a user's number of such sessions.</summary>
    SessionsWithCopy,
    SessionsWithSelection,
    Errors,

    /// <summary>
    /// JSON numbers in fields the figures read that lie outside <see cref="ValueBounds"/> (or are not finite): stored
    /// with their event, left out of every figure, counted here (the report's "excluded values").
    /// </summary>
    ExcludedValues,
}

public static class MetricFields
{
    public static readonly int Count = Enum.GetValues<MetricField>().Length;

    /// <summary>Column names, snake_case, in field order.</summary>
    public static readonly IReadOnlyList<string> Columns = Enum.GetValues<MetricField>().Select(ToColumn).ToArray();

    private static string ToColumn(MetricField field)
    {
        var name = field.ToString();
        var chars = new System.Text.StringBuilder(name.Length + 8);
        for (var i = 0; i < name.Length; i++)
        {
            if (char.IsUpper(name[i]) && i > 0)
            {
                chars.Append('_');
            }

            chars.Append(char.ToLowerInvariant(name[i]));
        }

        return chars.ToString();
    }
}
