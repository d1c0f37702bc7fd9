namespace SessionTracking;

/// <summary>
/// One grain per session, keyed by the server-issued session id. It is the only writer of its session:
/// it drops resent client ids, numbers events, group-commits them to the store and refuses events after end.
/// </summary>
[Alias("SessionTracking.ISessionGrain")]
public interface ISessionGrain : IGrainWithStringKey
{
    [Alias("Start")]
    ValueTask<StartResult> StartAsync(StartSession command);

    /// <summary>Appends a batch (and, when <see cref="AppendBatch.End"/> is set, ends the session in the same store write).</summary>
    [Alias("Append")]
    ValueTask<AppendResult> AppendAsync(AppendBatch batch);

    [Alias("End")]
    ValueTask<EndResult> EndAsync();

    /// <summary>Records one /query exchange: the prompt and model_response events plus the legacy <c>queries</c> row, atomically.</summary>
    [Alias("RecordExchange")]
    ValueTask<AppendResult> RecordExchangeAsync(QueryExchange exchange);

    /// <summary>Records a legacy /log_event call: the session event plus the legacy <c>events</c> row, atomically.</summary>
    [Alias("RecordLegacyEvent")]
    ValueTask<AppendResult> RecordLegacyEventAsync(LegacyEvent legacyEvent);

    /// <summary>Whether the session exists and still takes events; counts as activity for the idle timeout.</summary>
    [Alias("GetStatus")]
    ValueTask<SessionStatus> GetStatusAsync();

    /// <summary>
    /// Privacy deletion: from now on this activation answers every call as for an unknown session and never writes
    /// again; returns once no write of it is in flight. The caller then deletes the session from the store.
    /// </summary>
    [Alias("Forget")]
    ValueTask ForgetAsync();

    [Alias("Read")]
    ValueTask<SessionPage?> ReadAsync(long afterSeq, int limit);
}
