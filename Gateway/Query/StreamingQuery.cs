using System.Net.ServerSentEvents;
using System.Runtime.CompilerServices;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Microsoft.Extensions.AI;
using SessionTracking.Gateway.Http;

namespace SessionTracking.Gateway.Query;

/// <summary>
/// One streamed answer: relays the model's text as <c>token</c> events, then records the exchange with time to first
/// token, tokens/s and whether the user stopped it (closed the connection), and ends with a <c>done</c> event.
/// A stopped answer is recorded with the text the user saw.
/// </summary>
internal sealed partial class StreamingQuery(
    QueryService queries,
    ILogger<StreamingQuery> logger,
    QueryRequest query,
    HttpResponse response,
    CancellationToken aborted) : IAsyncDisposable
{
    /// <summary>The wire types of the events, with text unescaped as the model wrote it.</summary>
    private static readonly WireJsonContext Wire = new(new JsonSerializerOptions(WireJsonContext.Default.Options) { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping });

    private readonly TimeProvider _clock = queries.Clock;
    private readonly System.Text.StringBuilder _text = new();
    private readonly DateTimeOffset _askedAt = queries.Clock.GetUtcNow();
    private readonly long _started = queries.Clock.GetTimestamp();
    private IAsyncEnumerator<ChatResponseUpdate>? _updates;
    private bool _hasUpdate;
    private bool _recorded;
    private long? _firstTokenAt;
    private long _lastTokenAt;
    private long _chunks;
    private long? _usageTokens;
    private long? _inputTokens;
    private string? _modelId;

    /// <summary>Waits for the model's first update, so that a provider failure can still be a 503.</summary>
    public async Task StartAsync(IAsyncEnumerable<ChatResponseUpdate> updates)
    {
        _updates = updates.GetAsyncEnumerator(aborted);
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
                    yield return Event("token", new StreamToken(text), Wire.StreamToken);
                }

                try
                {
                    _hasUpdate = await _updates.MoveNextAsync();
                }
                catch (Exception ex) when (ex is not OperationCanceledException || !aborted.IsCancellationRequested)
                {
                    if (!QueryService.IsModelFailure(ex, aborted))
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
                yield return Event(
                    "error",
                    new StreamError(StatusCodes.Status503ServiceUnavailable, "Model unavailable", "The model provider stopped answering mid-stream; the partial answer was recorded."),
                    Wire.StreamError);
            }
            else if (outcome is not null)
            {
                yield return Event("error", outcome, Wire.StreamError);
            }
            else
            {
                yield return Event("done", Done(answer), Wire.StreamDone);
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
            _inputTokens = usage.Details.InputTokenCount ?? _inputTokens;
        }

        var text = update.Text;
        if (text.Length > 0)
        {
            var now = _clock.GetTimestamp();
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
            var seconds = _clock.GetElapsedTime(first, _lastTokenAt).TotalSeconds;
            rate = seconds > 0 ? (tokens - 1) / seconds : null;
        }

        long? ttft = _firstTokenAt is { } firstAt ? (long)_clock.GetElapsedTime(_started, firstAt).TotalMilliseconds : null;
        var (model, provider) = queries.Describe(_modelId);
        return new ModelAnswer(
            _text.ToString(), model, provider, (long)_clock.GetElapsedTime(_started).TotalMilliseconds, _askedAt, _clock.GetUtcNow(), new TokenUsage(_inputTokens, _usageTokens),
            new StreamFigures(ttft, tokens, _usageTokens is not null, rate, stopped, error));
    }

    /// <summary>Records once; returns the error event to send when the store refused (the status line is long gone).</summary>
    private async Task<StreamError?> RecordAsync(ModelAnswer answer)
    {
        _recorded = true;
        try
        {
            return await queries.RecordAsync(answer, query, response) is { } problem ? Problems.ToStreamError(problem) : null;
        }
        catch (StoreUnavailableException ex)
        {
            LogRecordFailed(logger, ex, query.SessionId);
            return new StreamError(StatusCodes.Status503ServiceUnavailable, "Store unavailable", "The answer was streamed but could not be recorded.");
        }
    }

    private StreamDone Done(ModelAnswer answer)
    {
        var figures = answer.Streaming!;
        return new StreamDone(
            answer.Text, answer.Model, answer.Provider, answer.LatencyMs, figures.TimeToFirstTokenMs, figures.Tokens,
            figures.TokensPerSecond is { } rate ? Math.Round(rate, 2) : null, Stopped: false, [], query.SessionId);
    }

    private static SseItem<string> Event<T>(string type, T data, JsonTypeInfo<T> typeInfo) => new(JsonSerializer.Serialize(data, typeInfo), type);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The model failed after {Chunks} streamed chunks; recording the partial answer")]
    private static partial void LogModelFailedMidStream(ILogger logger, Exception exception, long chunks);

    [LoggerMessage(Level = LogLevel.Warning, Message = "A streamed answer for session {SessionId} could not be recorded")]
    private static partial void LogRecordFailed(ILogger logger, Exception exception, string? sessionId);
}
