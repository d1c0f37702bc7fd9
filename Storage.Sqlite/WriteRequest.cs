using SessionTracking.ReadModel;
namespace SessionTracking.Storage.Sqlite;

/// <summary>One queued write of the SQLite adapter; the writer completes it after its transaction commits.</summary>
internal abstract record WriteRequest
{
    /// <summary>
    /// Completed by <see cref="CompleteAll"/> on a thread-pool thread, whose continuations run there inline: a commit of n
    /// requests costs one work item, not n (RunContinuationsAsynchronously queued one per request).
    /// </summary>
    public TaskCompletionSource Completion { get; } = new();

    /// <summary>
    /// Completes a committed (or failed) batch on one thread-pool work item: the writer thread goes back to the queue at
    /// once and never runs a caller's continuation.
    /// </summary>
    public static void CompleteAll(IReadOnlyList<WriteRequest> batch, Func<int, Exception?> outcome)
    {
        var completions = new (TaskCompletionSource Completion, Exception? Failure)[batch.Count];
        for (var i = 0; i < completions.Length; i++)
        {
            completions[i] = (batch[i].Completion, outcome(i));
        }

        ThreadPool.UnsafeQueueUserWorkItem(
            static completions =>
            {
                foreach (var (completion, failure) in completions)
                {
                    _ = failure is null ? completion.TrySetResult() : completion.TrySetException(failure);
                }
            },
            completions,
            preferLocal: false);
    }

    public sealed record Create(SessionInfo Session, IReadOnlyList<StoredEvent> InitialEvents, SessionSummary? Summary) : WriteRequest;

    public sealed record Flush(SessionFlush Batch) : WriteRequest;

    /// <summary>One batch of the custom metric backfill after the cursor (start time, session id); the writer sets the results.</summary>
    public sealed record MetricBackfill(long AfterStartMs, string AfterSessionId) : WriteRequest
    {
        public int Seen { get; set; }

        public long NextStartMs { get; set; }

        public string NextSessionId { get; set; } = "";
    }

    /// <summary>A privacy deletion: written by the same writer as every flush; <see cref="Result"/> is set before completion.</summary>
    public sealed record DeleteUser(string UserId) : WriteRequest
    {
        public Analytics.UserDeletion? Result { get; set; }
    }
}
