namespace SessionTracking;

/// <summary>
/// One grain per session, keyed by the server-issued session id. It is the only writer of its session:
/// it drops resent client ids, numbers events, group-commits them to the store, refuses events after end and keeps
/// the session's request rate limit (one limit per session, whichever gateway a request came through).
/// </summary>
/// <remarks>
/// Calls that write answer within seconds: a call that waits longer is stuck on a silo that stopped answering, and
/// failing it (503, nothing acknowledged) lets the client's retry, with the same event ids, reach the session's next
/// activation once the cluster has declared that silo dead. Reads may page up to 100,000 events and get longer, but not
/// the client's default 30 s: a read caught on a frozen silo would outlast the cluster's recovery.
/// </remarks>
[Alias("SessionTracking.ISessionGrain")]
public interface ISessionGrain : IGrainWithStringKey
{
    /// <summary>Response timeout of the calls that write (see remarks).</summary>
    public const string WriteTimeout = "00:00:02";

    /// <summary>Response timeout of <see cref="ReadAsync"/> (see remarks).</summary>
    public const string ReadTimeout = "00:00:10";

    [Alias("Start"), ResponseTimeout(WriteTimeout)]
    ValueTask<StartResult> StartAsync(StartSession command);

    /// <summary>Appends a batch (and, when <see cref="AppendBatch.End"/> is set, ends the session in the same store write).</summary>
    [Alias("Append"), ResponseTimeout(WriteTimeout)]
    ValueTask<AppendResult> AppendAsync(AppendBatch batch);

    [Alias("End"), ResponseTimeout(WriteTimeout)]
    ValueTask<EndResult> EndAsync();

    /// <summary>Records one /query exchange: the prompt and model_response events plus the legacy <c>queries</c> row, atomically.</summary>
    [Alias("RecordExchange"), ResponseTimeout(WriteTimeout)]
    ValueTask<AppendResult> RecordExchangeAsync(QueryExchange exchange);

    /// <summary>Records a legacy /log_event call: the session event plus the legacy <c>events</c> row, atomically.</summary>
    [Alias("RecordLegacyEvent"), ResponseTimeout(WriteTimeout)]
    ValueTask<AppendResult> RecordLegacyEventAsync(LegacyEvent legacyEvent);

    /// <summary>
    /// Whether the session exists and still takes events; counts as activity for the idle timeout and takes a request
    /// of the session's rate limit (a /query asks before the model runs).
    /// </summary>
    [Alias("GetStatus"), ResponseTimeout(WriteTimeout)]
    ValueTask<SessionStatus> GetStatusAsync();

    /// <summary>
    /// Privacy deletion: from now on this activation answers every call as for an unknown session and never writes
    /// again; returns once no write of it is in flight. The caller then deletes the session from the store.
    /// </summary>
    [Alias("Forget")]
    ValueTask ForgetAsync();

    [Alias("Read"), ResponseTimeout(ReadTimeout)]
    ValueTask<SessionPage?> ReadAsync(long afterSeq, int limit);
}
