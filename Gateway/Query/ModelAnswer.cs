using System.Text.Encodings.Web;
using System.Text.Json;
using Microsoft.Extensions.AI;

namespace SessionTracking.Gateway.Query;

/// <summary>What the model answered to one query, with the streaming figures when it was streamed.</summary>
internal sealed record ModelAnswer(
    string Text,
    string Model,
    string Provider,
    long LatencyMs,
    DateTimeOffset AskedAt,
    DateTimeOffset AnsweredAt,
    TokenUsage Usage,
    StreamFigures? Streaming = null)
{
    /// <summary>The exchange as one grain call: a <c>prompt</c> and a <c>model_response</c> event plus the legacy row.</summary>
    public QueryExchange ToExchange(QueryRequest query, QueryRow row) => new(
        new IncomingEvent("prompt", ToJson(w => w.WriteString("text", query.Prompt)), AskedAt.ToUnixTimeMilliseconds(), null),
        new IncomingEvent("model_response", ToJson(WriteResponseData), AnsweredAt.ToUnixTimeMilliseconds(), null),
        row);

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

        // The provider's own counts, what it bills by: the fields a client sends for the same purpose (docs/analytics.md).
        if (Usage.InputTokens is { } input)
        {
            writer.WriteNumber("input_tokens", input);
        }

        if (Usage.OutputTokens is { } output)
        {
            writer.WriteNumber("output_tokens", output);
        }

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

/// <summary>The provider's token counts of one answer (its usage report), null where it reported none.</summary>
internal readonly record struct TokenUsage(long? InputTokens, long? OutputTokens)
{
    public static TokenUsage Of(UsageDetails? usage) => new(usage?.InputTokenCount, usage?.OutputTokenCount);
}

/// <summary>
/// Figures of one streamed answer. <see cref="TokensPerSecond"/> is the decode rate after the first token:
/// (tokens − 1) / (last token − first token), null with fewer than two tokens.
/// </summary>
internal sealed record StreamFigures(long? TimeToFirstTokenMs, long Tokens, bool TokensFromUsage, double? TokensPerSecond, bool Stopped, string? Error);
