using System.Text.Encodings.Web;
using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using SessionTracking.Gateway.Http;

namespace SessionTracking.Gateway.Query;

/// <summary>What the model answered to one query, with the streaming figures when it was streamed.</summary>
internal sealed record ModelAnswer(
    string Text,
    string Model,
    string Provider,
    long LatencyMs,
    DateTimeOffset AskedAt,
    DateTimeOffset AnsweredAt,
    StreamFigures? Streaming = null)
{
    /// <summary>
    /// Records the exchange as the earlier system did: a <c>prompt</c> and a <c>model_response</c> event in the session
    /// plus a legacy <c>queries</c> row, in one grain call; without a session, the legacy row alone.
    /// Returns the problem to answer when the session is unknown or ended.
    /// </summary>
    public async Task<ProblemHttpResult?> RecordAsync(IGrainFactory grains, QueryRequest query)
    {
        var row = new QueryRow(query.SessionId, query.UserId, query.ModelGroup, query.Prompt, Text, Model, Provider, LatencyMs, "[]", AskedAt);
        if (query.SessionId is null)
        {
            await grains.GetGrain<ILegacyLogGrain>(0).WriteQueryAsync(row);
            return null;
        }

        var exchange = new QueryExchange(
            new IncomingEvent("prompt", ToJson(w => w.WriteString("text", query.Prompt)), AskedAt.ToUnixTimeMilliseconds(), null),
            new IncomingEvent("model_response", ToJson(WriteResponseData), AnsweredAt.ToUnixTimeMilliseconds(), null),
            row);
        var result = await grains.GetGrain<ISessionGrain>(query.SessionId).RecordExchangeAsync(exchange);
        return result.Status switch
        {
            SessionStatus.NotFound => Problems.SessionNotFound(query.SessionId),
            SessionStatus.Ended => Problems.SessionEnded(query.SessionId),
            _ => null,
        };
    }

    /// <summary>The guide's model_response fields, then the streaming ones (ttft_ms is what the analytics report reads).</summary>
    private void WriteResponseData(Utf8JsonWriter writer)
    {
        writer.WriteString("text", Text);
        writer.WriteString("model", Model);
        writer.WriteString("provider", Provider);
        writer.WriteNumber("latency_ms", LatencyMs);
        writer.WriteNumber("response_length", Text.Length);
        writer.WriteStartArray("citations");
        writer.WriteEndArray();
        if (Streaming is { } figures)
        {
            writer.WriteBoolean("streamed", true);
            if (figures.TimeToFirstTokenMs is { } ttft)
            {
                writer.WriteNumber("ttft_ms", ttft);
            }

            writer.WriteNumber("tokens", figures.Tokens);
            writer.WriteString("tokens_source", figures.TokensFromUsage ? "usage" : "chunks");
            if (figures.TokensPerSecond is { } rate)
            {
                writer.WriteNumber("tokens_per_second", Math.Round(rate, 2));
            }

            writer.WriteBoolean("stopped", figures.Stopped);
            if (figures.Error is { } error)
            {
                writer.WriteString("error", error);
            }
        }
    }

    internal static string ToJson(Action<Utf8JsonWriter> writeProperties)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            writer.WriteStartObject();
            writeProperties(writer);
            writer.WriteEndObject();
        }

        return System.Text.Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
    }
}

/// <summary>
/// Figures of one streamed answer. <see cref="TokensPerSecond"/> is the decode rate after the first token:
/// (tokens − 1) / (last token − first token), null with fewer than two tokens.
/// </summary>
internal sealed record StreamFigures(long? TimeToFirstTokenMs, long Tokens, bool TokensFromUsage, double? TokensPerSecond, bool Stopped, string? Error);
