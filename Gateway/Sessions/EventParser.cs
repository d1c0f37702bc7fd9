using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Http.HttpResults;
using SessionTracking.Gateway.Http;

namespace SessionTracking.Gateway.Sessions;

/// <summary>
/// Validates event bodies: one event <c>{session_id, type, data, t?, id?, sent_at?}</c> or a batch
/// <c>{session_id, events: [...], end?, sent_at?}</c>. Event types are the guide's twelve or custom names matching
/// <see cref="WireLimits.EventTypePattern"/>. POST /log_event reads its type and data with the same rules.
/// </summary>
internal sealed partial class EventParser(WireLimits limits)
{
    private readonly GatewayOptions _options = limits.Gateway;

    public static readonly IReadOnlySet<string> GuideTypes = new HashSet<string>(StringComparer.Ordinal)
    {
        "prompt", "model_response", "scroll", "click", "hover", "selection", "copy", "key", "navigate", "activity", "feedback", "error",
    };

    public bool TryParseBatch(JsonElement root, out AppendBatch batch, out ProblemHttpResult? problem)
    {
        batch = null!;
        if (!JsonFields.TryGetBoolean(root, "end", out var end, out var error)
            || !TryGetUnixMilliseconds(root, "sent_at", out var sentAt, out error))
        {
            problem = Problems.BadRequest(error!);
            return false;
        }

        IncomingEvent[] events;
        if (root.TryGetProperty("events", out var list))
        {
            if (list.ValueKind != JsonValueKind.Array)
            {
                problem = Problems.BadRequest("'events' must be an array of event objects.");
                return false;
            }

            var count = list.GetArrayLength();
            if (count > _options.MaxEventsPerBatch)
            {
                problem = Problems.BadRequest($"The batch has {count} events; at most {_options.MaxEventsPerBatch} are accepted per request (Gateway:MaxEventsPerBatch).");
                return false;
            }

            if (count == 0 && !end)
            {
                problem = Problems.BadRequest("'events' is empty; send at least one event, or \"end\": true.");
                return false;
            }

            events = new IncomingEvent[count];
            var i = 0;
            foreach (var item in list.EnumerateArray())
            {
                if (!TryParseEvent(item, $"events[{i}]", out events[i], out problem))
                {
                    return false;
                }

                i++;
            }
        }
        else if (root.TryGetProperty("type", out _))
        {
            events = new IncomingEvent[1];
            if (!TryParseEvent(root, "event", out events[0], out problem))
            {
                return false;
            }
        }
        else if (end)
        {
            events = [];
        }
        else
        {
            problem = Problems.BadRequest("Send one event ('type', 'data') or a batch ('events': [...]).");
            return false;
        }

        batch = new AppendBatch(events, end, sentAt);
        problem = null;
        return true;
    }

    public bool TryParseEvent(JsonElement item, string where, out IncomingEvent parsed, out ProblemHttpResult? problem)
    {
        parsed = null!;
        if (item.ValueKind != JsonValueKind.Object)
        {
            problem = Problems.BadRequest($"{where} must be a JSON object.");
            return false;
        }

        if (!TryReadTypeAndData(item, "type", where, out var type, out var data, out problem))
        {
            return false;
        }

        if (!JsonFields.TryGetString(item, "id", _options.MaxFieldLength, out var clientId, out var error)
            || !TryGetUnixMilliseconds(item, "t", out var clientTime, out error))
        {
            problem = Problems.BadRequest($"{where}: {error}");
            return false;
        }

        if (clientId is { Length: 0 })
        {
            problem = Problems.BadRequest($"{where}: 'id' must not be empty.");
            return false;
        }

        parsed = new IncomingEvent(type, data, clientTime, clientId);
        problem = null;
        return true;
    }

    /// <summary>
    /// Reads an event's type (from <paramref name="typeField"/>) and its data object (absent or null: <c>{}</c>), within
    /// the type rule and <see cref="GatewayOptions.MaxEventDataBytes"/>. <paramref name="typeLabel"/> names the type field in
    /// the "required" error where the request may use an alias for it.
    /// </summary>
    public bool TryReadTypeAndData(JsonElement item, string typeField, string? where, out string type, out string data, out ProblemHttpResult? problem, string? typeLabel = null)
    {
        data = "{}";
        var prefix = where is null ? "" : where + ": ";
        if (!JsonFields.TryGetRequiredString(item, typeField, WireLimits.EventTypeMaxLength, out type, out var error, typeLabel)
            || !JsonFields.TryGetObjectJson(item, "data", out var json, out error))
        {
            problem = Problems.BadRequest(prefix + error);
            return false;
        }

        if (!IsValidType(type))
        {
            problem = Problems.BadRequest($"{prefix}'{typeField}' must be one of the guide's event types or a custom name matching {WireLimits.EventTypePattern}.");
            return false;
        }

        data = json ?? "{}";
        if (data.Length > _options.MaxEventDataBytes / 4 && Encoding.UTF8.GetByteCount(data) > _options.MaxEventDataBytes)
        {
            problem = Problems.TooLarge($"{prefix}'data' exceeds {_options.MaxEventDataBytes} bytes (Gateway:MaxEventDataBytes).");
            return false;
        }

        problem = null;
        return true;
    }

    public static bool IsValidType(string type) => GuideTypes.Contains(type) || TypeRegex().IsMatch(type);

    /// <summary>Reads a client time (<c>t</c>, <c>sent_at</c>): absent or null is null.</summary>
    private static bool TryGetUnixMilliseconds(JsonElement item, string name, out long? time, out string? error)
    {
        time = null;
        error = null;
        if (!item.TryGetProperty(name, out var t) || t.ValueKind == JsonValueKind.Null)
        {
            return true;
        }

        // Fractional milliseconds (performance.timeOrigin + now()) are truncated.
        if (t.ValueKind != JsonValueKind.Number || !t.TryGetDouble(out var value) || !double.IsFinite(value) || value < 0 || value > WireLimits.MaxClientTime)
        {
            error = $"'{name}' must be an integer number of milliseconds since the Unix epoch.";
            return false;
        }

        time = t.TryGetInt64(out var ms) ? ms : (long)value;
        return true;
    }

    [GeneratedRegex(WireLimits.EventTypePattern, RegexOptions.CultureInvariant)]
    private static partial Regex TypeRegex();
}
