using System.Text.Json.Serialization;

namespace SessionTracking.Gateway.Http;

/// <summary>Answer of POST /session/start.</summary>
public sealed record StartResponse(
    string SessionId,
    string UserId,
    string ExperimentId,
    string ModelGroup,
    string StartTime);

/// <summary>Answer of POST /session/event: what this request added, what it repeated, and the session's last sequence number.</summary>
public sealed record AppendResponse(string SessionId, int Accepted, int Duplicates, long LastSeq, bool Ended);

/// <summary>Answer of POST /session/end.</summary>
public sealed record EndResponse(string SessionId, string? EndTime, long LastSeq);

/// <summary>Answer of POST /query, as the earlier system gave it.</summary>
public sealed record QueryResponse(string Response, string Model, string Provider, long LatencyMs, string[] Citations, string? SessionId);

/// <summary>Answer of POST /log_event.</summary>
public sealed record LogEventResponse(string Status, string? SessionId);

/// <summary>Answer of GET /healthz and /readyz.</summary>
public sealed record HealthResponse(string Status, string? Detail = null);

/// <summary>The one serializer context for the wire types: snake_case, as the guide names fields.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(StartResponse))]
[JsonSerializable(typeof(AppendResponse))]
[JsonSerializable(typeof(EndResponse))]
[JsonSerializable(typeof(QueryResponse))]
[JsonSerializable(typeof(LogEventResponse))]
[JsonSerializable(typeof(HealthResponse))]
internal sealed partial class WireJsonContext : JsonSerializerContext;
