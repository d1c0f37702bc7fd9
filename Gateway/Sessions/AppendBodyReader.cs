using System.Text;
using System.Text.Json;
using SessionTracking.Gateway.Http;

namespace SessionTracking.Gateway.Sessions;

/// <summary>A POST /session/event body read in one pass: the session and the batch for its grain.</summary>
internal sealed record AppendBody(string SessionId, AppendBatch Batch);

/// <summary>
/// The fast path of POST /session/event: one pass of a <see cref="Utf8JsonReader"/> over the body as it lies in the
/// request pipe, straight into the grain's <see cref="IncomingEvent"/>s, without a <see cref="JsonDocument"/>, a copy of
/// the body or a lookup per field. It accepts only a body that the document path (<see cref="EventParser"/>) accepts,
/// and reads it to the same batch; anything else (every error, a repeated field, a lone surrogate) it declines, and the
/// document path then answers, with its messages. So the rules and their wording stay in one place.
/// </summary>
internal sealed class AppendBodyReader
{
    // The guide's types as UTF-8, for matching without allocating: the grain and the store get the interned strings.
    private static readonly (byte[] Utf8, string Name)[] GuideTypeNames =
        [.. EventParser.GuideTypes.Select(type => (Encoding.UTF8.GetBytes(type), type))];

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private readonly GatewayOptions _options;

    public AppendBodyReader(WireLimits limits)
    {
        _options = limits.Gateway;
        Reader = TryRead;
    }

    /// <summary><see cref="TryRead"/> as a delegate, made once rather than per request.</summary>
    public TryReadBody<AppendBody> Reader { get; }

    /// <summary>Reads the body; false for anything the document path must judge.</summary>
    public bool TryRead(ReadOnlySpan<byte> json, out AppendBody? body)
    {
        body = null;
        try
        {
            return TryReadBody(json, out body);
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException or ArgumentException)
        {
            // Invalid JSON (JsonException), a string that is no valid Unicode (InvalidOperationException), bytes that
            // are no valid UTF-8 (DecoderFallbackException, an ArgumentException): the document path names the problem.
            return false;
        }
    }

    private bool TryReadBody(ReadOnlySpan<byte> json, out AppendBody? body)
    {
        body = null;
        var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = _options.MaxJsonDepth });
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
        {
            return false;
        }

        string? sessionId = null;
        var end = false;
        long? sentAt = null;
        IncomingEvent[]? events = null;
        var single = new EventFields();
        var seen = TopField.None;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var field = IdentifyTopField(ref reader);
            if (field != TopField.None && (seen & field) != 0)
            {
                return false; // a repeated field: the document path decides which one counts
            }

            seen |= field;
            reader.Read();
            var ok = field switch
            {
                TopField.SessionId => TryReadString(ref reader, int.MaxValue, out sessionId),
                TopField.End => TryReadBoolean(ref reader, out end),
                TopField.SentAt => TryReadTime(ref reader, out sentAt),
                TopField.Events => TryReadEvents(ref reader, json, out events),
                TopField.Type or TopField.Data or TopField.T or TopField.Id => TryReadEventField(ref reader, json, (EventField)(int)field, ref single),
                _ => reader.TrySkip(),
            };
            if (!ok)
            {
                return false;
            }
        }

        // The object must be closed and nothing may follow it (trailing content throws: the document path answers).
        if (reader.TokenType != JsonTokenType.EndObject || reader.Read())
        {
            return false;
        }

        if (!SessionIds.IsWellFormed(sessionId))
        {
            return false;
        }

        if (events is not null)
        {
            if (events.Length == 0 && !end)
            {
                return false;
            }
        }
        else if ((seen & TopField.Type) != 0)
        {
            if (!single.TryBuild(out var only))
            {
                return false;
            }

            events = [only];
        }
        else if (end)
        {
            events = [];
        }
        else
        {
            return false;
        }

        body = new AppendBody(sessionId!, new AppendBatch(events, end, sentAt));
        return true;
    }

    private bool TryReadEvents(ref Utf8JsonReader reader, ReadOnlySpan<byte> json, out IncomingEvent[]? events)
    {
        events = null;
        if (reader.TokenType != JsonTokenType.StartArray)
        {
            return false;
        }

        var list = new List<IncomingEvent>();
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            if (list.Count == _options.MaxEventsPerBatch || reader.TokenType != JsonTokenType.StartObject || !TryReadEvent(ref reader, json, out var parsed))
            {
                return false;
            }

            list.Add(parsed);
        }

        events = [.. list];
        return true;
    }

    private bool TryReadEvent(ref Utf8JsonReader reader, ReadOnlySpan<byte> json, out IncomingEvent parsed)
    {
        parsed = null!;
        var fields = new EventFields();
        var seen = 0;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var field = IdentifyEventField(ref reader);
            if (field != EventField.None && (seen & (int)field) != 0)
            {
                return false;
            }

            seen |= (int)field;
            reader.Read();
            if (!(field == EventField.None ? reader.TrySkip() : TryReadEventField(ref reader, json, field, ref fields)))
            {
                return false;
            }
        }

        return reader.TokenType == JsonTokenType.EndObject && fields.TryBuild(out parsed);
    }

    private bool TryReadEventField(ref Utf8JsonReader reader, ReadOnlySpan<byte> json, EventField field, ref EventFields fields)
    {
        switch (field)
        {
            case EventField.Type:
                return TryReadType(ref reader, out fields.Type);
            case EventField.Data:
                return TryReadData(ref reader, json, out fields.Data);
            case EventField.T:
                return TryReadTime(ref reader, out fields.ClientTime);
            default:
                // An id that is present must be a non-empty string within the field limit.
                return TryReadString(ref reader, _options.MaxFieldLength, out fields.ClientId) && fields.ClientId is not { Length: 0 };
        }
    }

    private static bool TryReadType(ref Utf8JsonReader reader, out string? type)
    {
        type = null;
        if (reader.TokenType != JsonTokenType.String)
        {
            return false;
        }

        foreach (var (utf8, name) in GuideTypeNames)
        {
            if (reader.ValueTextEquals(utf8))
            {
                type = name;
                return true;
            }
        }

        type = reader.GetString();
        return type is { Length: > 0 and <= WireLimits.EventTypeMaxLength } && EventParser.IsValidType(type);
    }

    /// <summary>The data object as the raw text it arrived as (what <see cref="JsonElement.GetRawText"/> gives).</summary>
    private bool TryReadData(ref Utf8JsonReader reader, ReadOnlySpan<byte> json, out string? data)
    {
        data = null;
        if (reader.TokenType == JsonTokenType.Null)
        {
            return true;
        }

        if (reader.TokenType != JsonTokenType.StartObject)
        {
            return false;
        }

        var start = (int)reader.TokenStartIndex;
        if (!reader.TrySkip())
        {
            return false;
        }

        var raw = json[start..(int)reader.BytesConsumed];
        if (raw.Length > _options.MaxEventDataBytes)
        {
            return false;
        }

        data = StrictUtf8.GetString(raw);
        return true;
    }

    private static bool TryReadString(ref Utf8JsonReader reader, int maxLength, out string? value)
    {
        value = null;
        if (reader.TokenType == JsonTokenType.Null)
        {
            return true;
        }

        if (reader.TokenType != JsonTokenType.String)
        {
            return false;
        }

        value = reader.GetString();
        return value!.Length <= maxLength;
    }

    private static bool TryReadBoolean(ref Utf8JsonReader reader, out bool value)
    {
        value = reader.TokenType == JsonTokenType.True;
        return reader.TokenType is JsonTokenType.True or JsonTokenType.False or JsonTokenType.Null;
    }

    /// <summary>A client time as <see cref="EventParser"/> reads it: fractional milliseconds truncated.</summary>
    private static bool TryReadTime(ref Utf8JsonReader reader, out long? time)
    {
        time = null;
        if (reader.TokenType == JsonTokenType.Null)
        {
            return true;
        }

        if (reader.TokenType != JsonTokenType.Number || !reader.TryGetDouble(out var value) || !double.IsFinite(value) || value < 0 || value > WireLimits.MaxClientTime)
        {
            return false;
        }

        time = reader.TryGetInt64(out var ms) ? ms : (long)value;
        return true;
    }

    private static TopField IdentifyTopField(ref Utf8JsonReader reader) =>
        reader.ValueTextEquals("session_id"u8) ? TopField.SessionId
        : reader.ValueTextEquals("events"u8) ? TopField.Events
        : reader.ValueTextEquals("end"u8) ? TopField.End
        : reader.ValueTextEquals("sent_at"u8) ? TopField.SentAt
        : (TopField)(int)IdentifyEventField(ref reader);

    private static EventField IdentifyEventField(ref Utf8JsonReader reader) =>
        reader.ValueTextEquals("type"u8) ? EventField.Type
        : reader.ValueTextEquals("data"u8) ? EventField.Data
        : reader.ValueTextEquals("t"u8) ? EventField.T
        : reader.ValueTextEquals("id"u8) ? EventField.Id
        : EventField.None;

    /// <summary>The fields of one event (a batch item, or the top level of a single event); flags, to find repeats.</summary>
    private enum EventField
    {
        None = 0,
        Type = 1,
        Data = 2,
        T = 4,
        Id = 8,
    }

    [Flags]
    private enum TopField
    {
        None = 0,
        Type = EventField.Type,
        Data = EventField.Data,
        T = EventField.T,
        Id = EventField.Id,
        SessionId = 16,
        Events = 32,
        End = 64,
        SentAt = 128,
    }

    private struct EventFields
    {
        public string? Type;
        public string? Data;
        public long? ClientTime;
        public string? ClientId;

        /// <summary>An event needs its type; absent data is <c>{}</c>.</summary>
        public readonly bool TryBuild(out IncomingEvent parsed)
        {
            parsed = Type is null ? null! : new IncomingEvent(Type, Data ?? "{}", ClientTime, ClientId);
            return Type is not null;
        }
    }
}
