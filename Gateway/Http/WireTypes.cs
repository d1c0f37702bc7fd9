using System.ComponentModel;
using System.ComponentModel.DataAnnotations;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace SessionTracking.Gateway.Http;

// The HTTP contract: one record per body that crosses the wire, separate from the grains' messages (renaming a grain
// property must not change the API). Requests are read by their readers within the limits of WireLimits; responses
// are written through WireJsonContext; the OpenAPI document is generated from these types (ApiContract fills in
// the configured limits and marks every response field required).

/// <summary>A JSON object whose members the API stores as given.</summary>
public sealed class JsonObjectBody : Dictionary<string, JsonElement>;

/// <summary>Body of POST /session/start.</summary>
public sealed record StartRequest(
    [property: Required, Description("The user's id in your product.")] string UserId,
    [property: Description("The model group (variant) the user sees. Required unless the experiment has a configured split, which then assigns one and records an `exposure` event.")] string? ModelGroup = null,
    [property: Description("Experiment id; `default` when absent.")] string? ExperimentId = null,
    [property: Description("Client environment (browser, viewport, …), stored verbatim.")] JsonObjectBody? Environment = null);

/// <summary>One event of a batch.</summary>
public sealed record EventItem(
    [property: Required, Description("One of the guide's twelve types (prompt, model_response, scroll, click, hover, selection, copy, key, navigate, activity, feedback, error) or a custom name.")] string Type,
    [property: Description("Event data; absent or null means {}.")] JsonObjectBody? Data = null,
    [property: Description("Client time in Unix milliseconds (fractions are truncated); the receive time when absent.")] double? T = null,
    [property: Description("Client event id: a resent id is acknowledged as a duplicate and stored once.")] string? Id = null);

/// <summary>
/// Body of POST /session/event: one event (<c>type</c>, <c>data</c>, <c>t</c>, <c>id</c> at the top level) or a batch
/// (<c>events</c>, optionally <c>end</c>: the batch and the end in one store write).
/// </summary>
public sealed record AppendRequest(
    [property: Required, Description("The id answered by POST /session/start.")] string SessionId,
    [property: Description("A batch of events (instead of a single event's fields).")] EventItem[]? Events = null,
    [property: Description("Ends the session in the same store write as the batch.")] bool? End = null,
    [property: Description("Single event: its type.")] string? Type = null,
    [property: Description("Single event: its data.")] JsonObjectBody? Data = null,
    [property: Description("Single event: client time in Unix milliseconds.")] double? T = null,
    [property: Description("Single event: client event id.")] string? Id = null,
    [property: Description("The client's clock when it sent this request, Unix milliseconds (fractions are truncated; set on every attempt of a retry). The server corrects each event's `t` by the difference to its receive time (`corrected_t`).")] double? SentAt = null);

/// <summary>Body of POST /session/end.</summary>
public sealed record EndRequest([property: Required] string SessionId);

/// <summary>Body of POST /query and POST /query/stream.</summary>
public sealed record QueryRequestBody(
    [property: Description("The prompt (required unless its alias `query` is given).")] string? Prompt = null,
    [property: Description("Alias of `prompt`.")] string? Query = null,
    [property: Description("Records the exchange in this session.")] string? SessionId = null,
    string? UserId = null,
    string? ModelGroup = null);

/// <summary>Body of POST /log_event (the earlier system's event log).</summary>
public sealed record LogEventRequest(
    [property: Required] string UserId,
    [property: Description("The event type (required unless its alias `type` is given); same rule as session events.")] string? EventType = null,
    [property: Description("Alias of `event_type`.")] string? Type = null,
    [property: Description("Also records the event in this session.")] string? SessionId = null,
    JsonObjectBody? Data = null);

/// <summary>Answer of POST /session/start.</summary>
public sealed record StartResponse(
    string SessionId,
    string UserId,
    string ExperimentId,
    string ModelGroup,
    [property: Description("ISO 8601 UTC with milliseconds.")] string StartTime);

/// <summary>Answer of POST /session/event: what this request added, what it repeated, and the session's last sequence number.</summary>
public sealed record AppendResponse(string SessionId, int Accepted, int Duplicates, long LastSeq, bool Ended);

/// <summary>Answer of POST /session/end.</summary>
public sealed record EndResponse(string SessionId, string? EndTime, long LastSeq);

/// <summary>One stored event of a session document.</summary>
public sealed record SessionEvent(
    [property: Description("Client time (or receive time), Unix milliseconds.")] long T,
    string Type,
    JsonObjectBody Data,
    [property: Description("Position in the session, from 1 without gaps.")] long Seq,
    [property: Description("The client event id, when one was sent."), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Id,
    [property: Description("Server receive time, Unix milliseconds.")] long ReceivedAt,
    [property: Description("When the event happened on the server's clock, Unix milliseconds: `received_at − (sent_at − t)`, within the bounds of docs/tracker.md (without a usable `sent_at`: `t`, at most `received_at`). Never later than `received_at`.")] long CorrectedT);

/// <summary>Answer of GET /session/{id}: the guide's session document, one page of events.</summary>
public sealed record SessionDocument(
    string SessionId,
    string UserId,
    string ExperimentId,
    string ModelGroup,
    string StartTime,
    string? EndTime,
    JsonObjectBody Environment,
    SessionEvent[] Events,
    [property: Description("The session's last sequence number.")] long EventCount,
    [property: Description("`after_seq` of the next page; null on the last page.")] long? NextAfterSeq);

/// <summary>Answer of POST /query, as the earlier system gave it.</summary>
public sealed record QueryResponse(string Response, string Model, string Provider, long LatencyMs, string[] Citations, string? SessionId);

/// <summary>Data of a <c>token</c> event of POST /query/stream.</summary>
public sealed record StreamToken(string Text);

/// <summary>Data of the final <c>done</c> event of POST /query/stream.</summary>
public sealed record StreamDone(
    string Response,
    string Model,
    string Provider,
    long LatencyMs,
    [property: Description("Time to first token; null when no token came."), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] long? TtftMs,
    long Tokens,
    [property: Description("(tokens − 1) / (last token − first token); null with fewer than two tokens."), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] double? TokensPerSecond,
    bool Stopped,
    string[] Citations,
    string? SessionId);

/// <summary>Data of an <c>error</c> event of POST /query/stream: a problem's fields, sent once the stream had begun.</summary>
public sealed record StreamError(int Status, string Title, string Detail);

/// <summary>Answer of POST /log_event.</summary>
public sealed record LogEventResponse(string Status, string? SessionId);

/// <summary>Answer of GET /healthz and /readyz.</summary>
public sealed record HealthResponse(string Status, [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Detail = null);

/// <summary>The one serializer context for the wire types: snake_case, as the guide names fields; numbers are numbers.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, NumberHandling = JsonNumberHandling.Strict)]
[JsonSerializable(typeof(StartRequest))]
[JsonSerializable(typeof(AppendRequest))]
[JsonSerializable(typeof(EndRequest))]
[JsonSerializable(typeof(QueryRequestBody))]
[JsonSerializable(typeof(LogEventRequest))]
[JsonSerializable(typeof(StartResponse))]
[JsonSerializable(typeof(AppendResponse))]
[JsonSerializable(typeof(EndResponse))]
[JsonSerializable(typeof(SessionDocument))]
[JsonSerializable(typeof(QueryResponse))]
[JsonSerializable(typeof(StreamToken))]
[JsonSerializable(typeof(StreamDone))]
[JsonSerializable(typeof(StreamError))]
[JsonSerializable(typeof(LogEventResponse))]
[JsonSerializable(typeof(HealthResponse))]
internal sealed partial class WireJsonContext : JsonSerializerContext;
