namespace SessionTracking;

/// <summary>
/// Start of a session. <paramref name="EnvironmentJson"/> is the client's environment object, verbatim JSON.
/// <paramref name="InitialEvents"/> (e.g. the experiment exposure of an assigned model_group) are stored by the same
/// store write that creates the session, numbered from 1: a session never exists without them.
/// </summary>
[GenerateSerializer, Immutable, Alias("SessionTracking.StartSession")]
public sealed record StartSession(
    [property: Id(0)] string UserId,
    [property: Id(1)] string ExperimentId,
    [property: Id(2)] string ModelGroup,
    [property: Id(3)] string EnvironmentJson,
    [property: Id(4)] IncomingEvent[]? InitialEvents = null);

/// <summary>An event as the client sent it. <paramref name="DataJson"/> is a JSON object, verbatim.</summary>
[GenerateSerializer, Immutable, Alias("SessionTracking.IncomingEvent")]
public sealed record IncomingEvent(
    [property: Id(0)] string Type,
    [property: Id(1)] string DataJson,
    [property: Id(2)] long? ClientTime,
    [property: Id(3)] string? ClientId);

/// <summary>
/// A batch of events. <paramref name="SentAt"/> is the client's clock (Unix ms) when it sent this request, the
/// reference for correcting the events' client times (<c>corrected_t</c>); null when the client did not send it.
/// </summary>
[GenerateSerializer, Immutable, Alias("SessionTracking.AppendBatch")]
public sealed record AppendBatch(
    [property: Id(0)] IncomingEvent[] Events,
    [property: Id(1)] bool End = false,
    [property: Id(2)] long? SentAt = null);

/// <summary>
/// An event as stored: numbered by the grain (<paramref name="Seq"/> starts at 1, no gaps within a session).
/// <paramref name="T"/> is the client's time as sent (the guide's <c>t</c>), <paramref name="ReceivedAt"/> the server's
/// receive time and <paramref name="CorrectedTime"/> the client time moved onto the server's clock
/// (<c>ClockSkewCorrection</c>); null for events stored before that existed, which read as <see cref="EventTime"/>.
/// </summary>
[GenerateSerializer, Immutable, Alias("SessionTracking.StoredEvent")]
public sealed record StoredEvent(
    [property: Id(0)] long Seq,
    [property: Id(1)] long T,
    [property: Id(2)] string Type,
    [property: Id(3)] string DataJson,
    [property: Id(4)] string? ClientId,
    [property: Id(5)] long ReceivedAt,
    [property: Id(6)] long? CorrectedTime = null)
{
    /// <summary>
    /// When the event happened on the server's clock: <see cref="CorrectedTime"/>, or for an event stored without one
    /// the rule for a batch without <c>sent_at</c> (the client's time, never later than its receipt).
    /// </summary>
    public long EventTime => CorrectedTime ?? Math.Min(T, ReceivedAt);

    /// <summary>
    /// The hash of <see cref="ClientId"/> as the grain's dedup computed it (<c>ClientIdHash</c>; 0 when not computed, 1
    /// also for a hash of 0), so that a store keeps it beside the event without hashing the id a second time. Not
    /// serialized: an event that crossed a process arrives with 0 and the store hashes the id itself.
    /// </summary>
    [field: NonSerialized]
    public ulong IdHash { get; init; }

    // Equality is the event's, not the cache's: an event read back from a store equals the one the grain numbered.
    public bool Equals(StoredEvent? other) =>
        other is not null && Seq == other.Seq && T == other.T && Type == other.Type && DataJson == other.DataJson
        && ClientId == other.ClientId && ReceivedAt == other.ReceivedAt && CorrectedTime == other.CorrectedTime;

    public override int GetHashCode() => HashCode.Combine(Seq, T, Type, DataJson, ClientId, ReceivedAt, CorrectedTime);
}

[GenerateSerializer, Immutable, Alias("SessionTracking.SessionInfo")]
public sealed record SessionInfo(
    [property: Id(0)] string SessionId,
    [property: Id(1)] string UserId,
    [property: Id(2)] string ExperimentId,
    [property: Id(3)] string ModelGroup,
    [property: Id(4)] DateTimeOffset StartTime,
    [property: Id(5)] DateTimeOffset? EndTime,
    [property: Id(6)] string EnvironmentJson);

public enum SessionStatus
{
    Ok,
    NotFound,
    Ended,
    AlreadyExists,

    /// <summary>The session exceeded <c>Sessions:RequestsPerSecond</c>; a token is back within a second.</summary>
    RateLimited,
}

[GenerateSerializer, Immutable, Alias("SessionTracking.StartResult")]
public sealed record StartResult(
    [property: Id(0)] SessionStatus Status,
    [property: Id(1)] SessionInfo? Session);

/// <summary>What an append did: <paramref name="Accepted"/> new events, <paramref name="Duplicates"/> resent ids dropped.</summary>
[GenerateSerializer, Immutable, Alias("SessionTracking.AppendResult")]
public sealed record AppendResult(
    [property: Id(0)] SessionStatus Status,
    [property: Id(1)] int Accepted,
    [property: Id(2)] int Duplicates,
    [property: Id(3)] long LastSeq,
    [property: Id(4)] bool Ended)
{
    public static AppendResult NotFound { get; } = new(SessionStatus.NotFound, 0, 0, 0, false);

    public static AppendResult RateLimited { get; } = new(SessionStatus.RateLimited, 0, 0, 0, false);
}

[GenerateSerializer, Immutable, Alias("SessionTracking.EndResult")]
public sealed record EndResult(
    [property: Id(0)] SessionStatus Status,
    [property: Id(1)] DateTimeOffset? EndTime,
    [property: Id(2)] long LastSeq);

[GenerateSerializer, Immutable, Alias("SessionTracking.SessionPage")]
public sealed record SessionPage(
    [property: Id(0)] SessionInfo Session,
    [property: Id(1)] StoredEvent[] Events,
    [property: Id(2)] long LastSeq,
    [property: Id(3)] long? NextAfterSeq);

/// <summary>One /query exchange, recorded as a prompt and a model_response event and one legacy <c>queries</c> row.</summary>
[GenerateSerializer, Immutable, Alias("SessionTracking.QueryExchange")]
public sealed record QueryExchange(
    [property: Id(0)] IncomingEvent Prompt,
    [property: Id(1)] IncomingEvent Response,
    [property: Id(2)] QueryRow Row);

/// <summary>A row of the legacy <c>queries</c> collection.</summary>
[GenerateSerializer, Immutable, Alias("SessionTracking.QueryRow")]
public sealed record QueryRow(
    [property: Id(0)] string? SessionId,
    [property: Id(1)] string? UserId,
    [property: Id(2)] string? ModelGroup,
    [property: Id(3)] string Query,
    [property: Id(4)] string Response,
    [property: Id(5)] string Model,
    [property: Id(6)] string Provider,
    [property: Id(7)] long LatencyMs,
    [property: Id(8)] string CitationsJson,
    [property: Id(9)] DateTimeOffset Timestamp);

/// <summary>A legacy /log_event call: a row of the <c>events</c> collection (and a session event when a session is named).</summary>
[GenerateSerializer, Immutable, Alias("SessionTracking.LegacyEvent")]
public sealed record LegacyEvent(
    [property: Id(0)] string UserId,
    [property: Id(1)] string? SessionId,
    [property: Id(2)] string EventType,
    [property: Id(3)] string DataJson,
    [property: Id(4)] DateTimeOffset Timestamp);
