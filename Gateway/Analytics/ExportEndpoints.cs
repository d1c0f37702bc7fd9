using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;
using SessionTracking.Analytics;
using SessionTracking.Gateway.Http;
using SessionTracking.Gateway.Security;
using SessionTracking.Gateway.Sessions;

namespace SessionTracking.Gateway.Analytics;

/// <summary>
/// Sessions and events as JSONL or CSV, streamed: rows flow from the store's cursor through the grain's async stream to
/// the response, a few hundred at a time, so an export of any size holds one session in memory, not the result.
/// </summary>
internal static class ExportEndpoints
{
    private const int RowsPerFlush = 256;

    public static IEndpointRouteBuilder MapExportEndpoints(this IEndpointRouteBuilder endpoints)
    {
        var maxNameLength = endpoints.ServiceProvider.GetRequiredService<WireLimits>().MaxFieldLength;
        var group = endpoints.MapGroup("/exports").RequireOperatorKey().WithTags("Exports").WithFilterParameters(maxNameLength);
        group.MapGet("/sessions.{format}", ExportSessionsAsync).WithName("ExportSessions").WithSummary("Export sessions")
            .WithDescription("JSONL: one guide session document per line, with its events. CSV: one row per session.")
            .ProducesFile("application/x-ndjson", "text/csv")
            .ProducesProblem(StatusCodes.Status400BadRequest).ProducesProblem(StatusCodes.Status404NotFound);
        group.MapGet("/events.{format}", ExportEventsAsync).WithName("ExportEvents").WithSummary("Export events")
            .WithDescription("One event per line (JSONL) or row (CSV) with the session fields an analyst joins on.")
            .ProducesFile("application/x-ndjson", "text/csv")
            .ProducesProblem(StatusCodes.Status400BadRequest).ProducesProblem(StatusCodes.Status404NotFound);
        return endpoints;
    }

    /// <summary>One guide session document per line (with its events) as JSONL; one row per session as CSV.</summary>
    private static async Task<IResult> ExportSessionsAsync(string format, HttpContext context, IGrainFactory grains, TimeProvider time)
    {
        if (!TryStart(format, context, "sessions", out var filter, out var problem))
        {
            return problem;
        }


        var aborted = context.RequestAborted;
        var output = context.Response.BodyWriter;
        var rows = 0;
        if (format == "csv")
        {
            await WriteAsync(context, "session_id,user_id,experiment_id,model_group,start_time,end_time,duration_ms,event_count,environment\r\n");
            await foreach (var row in grains.GetGrain<IExportGrain>(Guid.NewGuid()).ExportSessionsAsync(filter).WithCancellation(aborted))
            {
                var s = row.Session;
                var line = string.Join(',',
                    Csv(s.SessionId), Csv(s.UserId), Csv(s.ExperimentId), Csv(s.ModelGroup), Timestamps.Format(s.StartTime),
                    Timestamps.Format(s.EndTime) ?? "", s.EndTime is { } end ? ((long)(end - s.StartTime).TotalMilliseconds).ToString(CultureInfo.InvariantCulture) : "",
                    row.EventCount.ToString(CultureInfo.InvariantCulture), Csv(s.EnvironmentJson)) + "\r\n";
                Encoding.UTF8.GetBytes(line, output);
                await FlushSometimesAsync(context, ++rows);
            }
        }
        else
        {
            // Merge join of two streams in the same order (session start, session id): each document is written as
            // soon as its last event has arrived. The events are read first and both streams stop at the same instant,
            // so a session started meanwhile is left out of both rather than pairing with events it was not read with.
            var now = time.GetUtcNow().AddMilliseconds(1);
            filter = filter with { To = filter.To is { } to && to < now ? to : now };
            await using var events = grains.GetGrain<IExportGrain>(Guid.NewGuid()).ExportEventsAsync(filter).WithCancellation(aborted).GetAsyncEnumerator();
            var pending = await events.MoveNextAsync() ? events.Current : null;
            await using var writer = new Utf8JsonWriter(output, new JsonWriterOptions { SkipValidation = true });
            await foreach (var row in grains.GetGrain<IExportGrain>(Guid.NewGuid()).ExportSessionsAsync(filter).WithCancellation(aborted))
            {
                var s = row.Session;
                writer.Reset(output);
                writer.WriteStartObject();
                SessionDocumentResult.WriteSessionFields(writer, s);
                writer.WritePropertyName("events");
                writer.WriteStartArray();
                while (pending is not null && pending.SessionId == s.SessionId)
                {
                    writer.WriteStartObject();
                    writer.WriteNumber("t", pending.TimeMs);
                    writer.WriteString("type", pending.Type);
                    writer.WritePropertyName("data");
                    writer.WriteRawValue(pending.DataJson, skipInputValidation: true);
                    writer.WriteNumber("seq", pending.Seq);
                    if (pending.ClientId is not null)
                    {
                        writer.WriteString("id", pending.ClientId);
                    }

                    writer.WriteNumber("corrected_t", pending.CorrectedTimeMs);

                    writer.WriteEndObject();
                    pending = await events.MoveNextAsync() ? events.Current : null;
                }

                writer.WriteEndArray();
                writer.WriteNumber("event_count", row.EventCount);
                writer.WriteEndObject();
                await writer.FlushAsync(aborted);
                output.Write("\n"u8);
                await FlushSometimesAsync(context, ++rows);
            }
        }

        await output.FlushAsync(aborted);
        return Results.Empty;
    }

    /// <summary>One event per line with the session fields an analyst joins on.</summary>
    private static async Task<IResult> ExportEventsAsync(string format, HttpContext context, IGrainFactory grains)
    {
        if (!TryStart(format, context, "events", out var filter, out var problem))
        {
            return problem;
        }

        var aborted = context.RequestAborted;
        var output = context.Response.BodyWriter;
        var rows = 0;
        var stream = grains.GetGrain<IExportGrain>(Guid.NewGuid()).ExportEventsAsync(filter).WithCancellation(aborted);
        if (format == "csv")
        {
            // corrected_t last: a column added later goes at the end, so readers by position keep working.
            await WriteAsync(context, "session_id,user_id,experiment_id,model_group,seq,t,time,type,id,data,corrected_t\r\n");
            await foreach (var e in stream)
            {
                var line = string.Join(',',
                    Csv(e.SessionId), Csv(e.UserId), Csv(e.ExperimentId), Csv(e.ModelGroup),
                    e.Seq.ToString(CultureInfo.InvariantCulture), e.TimeMs.ToString(CultureInfo.InvariantCulture),
                    Timestamps.Format(DateTimeOffset.FromUnixTimeMilliseconds(e.TimeMs)), Csv(e.Type), Csv(e.ClientId ?? ""), Csv(e.DataJson), e.CorrectedTimeMs.ToString(CultureInfo.InvariantCulture)) + "\r\n";
                Encoding.UTF8.GetBytes(line, output);
                await FlushSometimesAsync(context, ++rows);
            }
        }
        else
        {
            await using var writer = new Utf8JsonWriter(output, new JsonWriterOptions { SkipValidation = true });
            await foreach (var e in stream)
            {
                writer.Reset(output);
                writer.WriteStartObject();
                writer.WriteString("session_id", e.SessionId);
                writer.WriteString("user_id", e.UserId);
                writer.WriteString("experiment_id", e.ExperimentId);
                writer.WriteString("model_group", e.ModelGroup);
                writer.WriteNumber("seq", e.Seq);
                writer.WriteNumber("t", e.TimeMs);
                writer.WriteString("type", e.Type);
                writer.WritePropertyName("data");
                writer.WriteRawValue(e.DataJson, skipInputValidation: true);
                if (e.ClientId is not null)
                {
                    writer.WriteString("id", e.ClientId);
                }

                writer.WriteNumber("corrected_t", e.CorrectedTimeMs);
                writer.WriteEndObject();
                await writer.FlushAsync(aborted);
                output.Write("\n"u8);
                await FlushSometimesAsync(context, ++rows);
            }
        }

        await output.FlushAsync(aborted);
        return Results.Empty;
    }

    private static bool TryStart(string format, HttpContext context, string name, out AnalyticsFilter filter, out IResult problem)
    {
        problem = Results.Empty;
        if (format is not ("jsonl" or "csv"))
        {
            filter = new AnalyticsFilter();
            problem = Problems.Create(StatusCodes.Status404NotFound, "Unknown export format", $"Export '{name}' comes as .jsonl or .csv.");
            return false;
        }

        if (!AnalyticsRequest.TryReadFilter(context.Request, out filter, out var error))
        {
            problem = Problems.BadRequest(error);
            return false;
        }

        var response = context.Response;
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = format == "csv" ? "text/csv; charset=utf-8" : "application/x-ndjson; charset=utf-8";
        response.Headers.ContentDisposition = $"attachment; filename=\"{name}.{format}\"";
        return true;
    }

    private static async Task WriteAsync(HttpContext context, string text)
    {
        Encoding.UTF8.GetBytes(text, context.Response.BodyWriter);
        await context.Response.BodyWriter.FlushAsync(context.RequestAborted);
    }

    private static async ValueTask FlushSometimesAsync(HttpContext context, int rows)
    {
        if (rows % RowsPerFlush == 0)
        {
            await context.Response.BodyWriter.FlushAsync(context.RequestAborted);
        }
    }

    /// <summary>RFC 4180 field: quoted when it holds a comma, quote, CR or LF; quotes doubled.</summary>
    private static string Csv(string value) =>
        value.AsSpan().IndexOfAny(",\"\r\n") < 0 ? value : "\"" + value.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";
}
