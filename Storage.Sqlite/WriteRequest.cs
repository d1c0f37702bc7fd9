namespace SessionTracking.Storage.Sqlite;

/// <summary>One queued write of the SQLite adapter; the writer completes it after its transaction commits.</summary>
internal abstract record WriteRequest
{
    public TaskCompletionSource Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public sealed record Create(SessionInfo Session, IReadOnlyList<StoredEvent> InitialEvents) : WriteRequest;

    public sealed record Flush(SessionFlush Batch) : WriteRequest;

    /// <summary>A privacy deletion: written by the same writer as every flush; <see cref="Result"/> is set before completion.</summary>
    public sealed record DeleteUser(string UserId) : WriteRequest
    {
        public Analytics.UserDeletion? Result { get; set; }
    }
}
