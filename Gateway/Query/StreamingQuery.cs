using System.Net.ServerSentEvents;
using System.Runtime.CompilerServices;
using System.Text.Json;
using Microsoft.Extensions.AI;

namespace SessionTracking.Gateway.Query;

/// <summary>
/// One streamed answer: relays the model's text as <c>token</c> events, then records the exchange with time to first
/// token, tokens/s and whether the user stopped it (closed the connection), and ends with a <c>done</c> event.
/// A stopped answer is recorded with the text the user saw.
/// </summary>
internal sealed partial class StreamingQuery(
    IChatClient chat,
    IGrainFactory grains,
    TimeProvider clock,
    ILogger<StreamingQuery> logger,
    QueryRequest query,
    CancellationToken aborted) : IAsyncDisposable
{
    private readonly System.Text.StringBuilder _text = new();
    private readonly DateTimeOffset _askedAt = clock.GetUtcNow();
    private readonly long _started = clock.GetTimestamp();
    private IAsyncEnumerator<ChatResponseUpdate>? _updates;
    private bool _hasUpdate;
    private bool _recorded;
    private long? _firstTokenAt;
    private long _lastTokenAt;
    private long _chunks;
    private long? _usageTokens;
    private string? _modelId;

    /// <summary>Asks the model and waits for its first update, so that a provider failure can still be a 503.</summary>
    public async Task StartAsync()
    {
        _updates = chat.GetStreamingResponseAsync(query.Prompt, cancellationToken: aborted).GetAsyncEnumerator(aborted);
        _hasUpdate = await _updates.MoveNextAsync();
    }

    public async IAsyncEnumerable<SseItem<string>> EventsAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        string? error = null;
        try
        {
            while (_hasUpdate)
            {
                var text = Observe(_updates!.Current);
                if (text.Length > 0)
                {
                    yield return new SseItem<string>(Json(w => w.WriteString("text", text)), "token");
                }

                try
                {
                    _hasUpdate = await _updates.MoveNextAsync();
                }
                catch (Exception ex) when (ex is not OperationCanceledException || !aborted.IsCancellationRequested)
                {
                    if (!QueryEndpoints.IsModelFailure(ex, aborted))
                    {
                        throw;
                    }

                    LogModelFailedMidStream(logger, ex, _chunks);
                    error = "model_unavailable";
                    _hasUpdate = false;
                }
                catch (OperationCanceledException)
                {
                    break; // the client went away: recorded as stopped in finally
                }
            }

            if (aborted.IsCancellationRequested)
            {
                yield break;
            }

            var answer = Answer(stopped: false, error);
            var outcome = await RecordAsync(answer);
            if (error is not null)
            {
                yield return new SseItem<string>(
                    ErrorJson(StatusCodes.Status503ServiceUnavailable, "Model unavailable", "The model provider stopped answering mid-stream; the partial answer was recorded."),
                    "error");
            }
            else if (outcome is not null)
            {
                yield return new SseItem<string>(outcome, "error");
            }
            else
            {
                yield return new SseItem<string>(Json(w => WriteDone(w, answer)), "done");
            }
        }
        finally
        {
            if (!_recorded)
            {
                await RecordAsync(Answer(stopped: true, error: null));
            }

            await DisposeAsync();
        }
    }

    public ValueTask DisposeAsync() => _updates?.DisposeAsync() ?? ValueTask.CompletedTask;

    private string Observe(ChatResponseUpdate update)
    {
        _modelId ??= update.ModelId;
        foreach (var usage in update.Contents.OfType<UsageContent>())
        {
            _usageTokens = usage.Details.OutputTokenCount ?? _usageTokens;
        }

        var text = update.Text;
        if (text.Length > 0)
        {
            var now = clock.GetTimestamp();
            _firstTokenAt ??= now;
            _lastTokenAt = now;
            _chunks++;
            _text.Append(text);
        }

        return text;
    }

    private ModelAnswer Answer(bool stopped, string? error)
    {
        var tokens = _usageTokens ?? _chunks;
        double? rate = null;
        if (_firstTokenAt is { } first && tokens > 1)
        {
            var seconds = clock.GetElapsedTime(first, _lastTokenAt).TotalSeconds;
            rate = seconds > 0 ? (tokens - 1) / seconds : null;
        }

        long? ttft = _firstTokenAt is { } firstAt ? (long)clock.GetElapsedTime(_started, firstAt).TotalMilliseconds : null;
        var (model, provider) = QueryEndpoints.Describe(chat, _modelId);
        return new ModelAnswer(
            _text.ToString(), model, provider, (long)clock.GetElapsedTime(_started).TotalMilliseconds, _askedAt, clock.GetUtcNow(),
            new StreamFigures(ttft, tokens, _usageTokens is not null, rate, stopped, error));
    }

    /// <summary>Records once; returns the error event to send when the store refused (the status line is long gone).</summary>
    private async Task<string?> RecordAsync(ModelAnswer answer)
    {
        _recorded = true;
        try
        {
            return await answer.RecordAsync(grains, query) is { } problem
                ? ErrorJson(problem.StatusCode, problem.ProblemDetails.Title, problem.ProblemDetails.Detail)
                : null;
        }
        catch (StoreUnavailableException ex)
        {
            LogRecordFailed(logger, ex, query.SessionId);
            return ErrorJson(StatusCodes.Status503ServiceUnavailable, "Store unavailable", "The answer was streamed but could not be recorded.");
        }
    }

    private void WriteDone(Utf8JsonWriter writer, ModelAnswer answer)
    {
        var figures = answer.Streaming!;
        writer.WriteString("response", answer.Text);
        writer.WriteString("model", answer.Model);
        writer.WriteString("provider", answer.Provider);
        writer.WriteNumber("latency_ms", answer.LatencyMs);
        if (figures.TimeToFirstTokenMs is { } ttft)
        {
            writer.WriteNumber("ttft_ms", ttft);
        }

        writer.WriteNumber("tokens", figures.Tokens);
        if (figures.TokensPerSecond is { } rate)
        {
            writer.WriteNumber("tokens_per_second", Math.Round(rate, 2));
        }

        writer.WriteBoolean("stopped", false);
        writer.WriteStartArray("citations");
        writer.WriteEndArray();
        if (query.SessionId is { } sessionId)
        {
            writer.WriteString("session_id", sessionId);
        }
        else
        {
            writer.WriteNull("session_id");
        }
    }

    private static string Json(Action<Utf8JsonWriter> writeProperties) => ModelAnswer.ToJson(writeProperties);

    /// <summary>The data of an <c>error</c> event: a problem's fields, once the status line has been sent.</summary>
    private static string ErrorJson(int status, string? title, string? detail) => Json(w =>
    {
        w.WriteNumber("status", status);
        w.WriteString("title", title);
        w.WriteString("detail", detail);
    });

    [LoggerMessage(Level = LogLevel.Warning, Message = "The model failed after {Chunks} streamed chunks; recording the partial answer")]
    private static partial void LogModelFailedMidStream(ILogger logger, Exception exception, long chunks);

    [LoggerMessage(Level = LogLevel.Warning, Message = "A streamed answer for session {SessionId} could not be recorded")]
    private static partial void LogRecordFailed(ILogger logger, Exception exception, string? sessionId);
}
