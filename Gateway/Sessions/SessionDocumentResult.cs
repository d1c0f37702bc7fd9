using System.Text.Json;
using SessionTracking.Gateway.Http;

namespace SessionTracking.Gateway.Sessions;

/// <summary>
/// Writes a session page as the guide's session document. Event data is stored as JSON text and written
/// raw, so a page streams out without re-parsing each event.
/// </summary>
internal sealed class SessionDocumentResult(SessionPage page) : IResult
{
    public async Task ExecuteAsync(HttpContext httpContext)
    {
        var response = httpContext.Response;
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "application/json; charset=utf-8";
        if (page.NextAfterSeq is { } next)
        {
            response.Headers.Link = $"</session/{page.Session.SessionId}?after_seq={next}&limit={page.Events.Length}>; rel=\"next\"";
        }

        await using var writer = new Utf8JsonWriter(response.BodyWriter, new JsonWriterOptions { SkipValidation = true });
        Write(writer, page);
        await writer.FlushAsync(httpContext.RequestAborted);
    }

    /// <summary>The guide's session fields, before <c>events</c>: shared by GET /session/{id} and the JSONL export.</summary>
    internal static void WriteSessionFields(Utf8JsonWriter writer, SessionInfo s)
    {
        writer.WriteString("session_id", s.SessionId);
        writer.WriteString("user_id", s.UserId);
        writer.WriteString("experiment_id", s.ExperimentId);
        writer.WriteString("model_group", s.ModelGroup);
        writer.WriteString("start_time", Timestamps.Format(s.StartTime));
        if (s.EndTime is { } end)
        {
            writer.WriteString("end_time", Timestamps.Format(end));
        }
        else
        {
            writer.WriteNull("end_time");
        }

        writer.WritePropertyName("environment");
        writer.WriteRawValue(s.EnvironmentJson, skipInputValidation: true);
    }

    private static void Write(Utf8JsonWriter writer, SessionPage page)
    {
        writer.WriteStartObject();
        WriteSessionFields(writer, page.Session);
        writer.WritePropertyName("events");
        writer.WriteStartArray();
        foreach (var e in page.Events)
        {
            writer.WriteStartObject();
            writer.WriteNumber("t", e.T);
            writer.WriteString("type", e.Type);
            writer.WritePropertyName("data");
            writer.WriteRawValue(e.DataJson, skipInputValidation: true);
            writer.WriteNumber("seq", e.Seq);
            if (e.ClientId is not null)
            {
                writer.WriteString("id", e.ClientId);
            }

            writer.WriteNumber("received_at", e.ReceivedAt);
            writer.WriteNumber("corrected_t", e.EventTime);
            writer.WriteEndObject();
        }

        writer.WriteEndArray();
        writer.WriteNumber("event_count", page.LastSeq);
        if (page.NextAfterSeq is { } next)
        {
            writer.WriteNumber("next_after_seq", next);
        }
        else
        {
            writer.WriteNull("next_after_seq");
        }

        writer.WriteEndObject();
    }
}
