using System.Runtime.CompilerServices;
using Microsoft.Extensions.AI;

namespace SessionTracking.Gateway.Query;

/// <summary>
/// The default model: offline and deterministic (the same prompt always gets the same answer), so the service
/// and its tests run anywhere without keys or network. Choose <c>Query:Provider=OpenAI</c> for a real model.
/// </summary>
internal sealed class OfflineChatClient(TimeSpan tokenDelay, TimeProvider clock) : IChatClient
{
    public const string ModelId = "offline-echo-1";
    public const string ProviderName = "offline";

    public Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        var (words, finish) = Answer(messages, options);
        var message = new ChatMessage(ChatRole.Assistant, string.Join(' ', words));
        return Task.FromResult(new ChatResponse(message) { ModelId = ModelId, FinishReason = finish });
    }

    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(
        IEnumerable<ChatMessage> messages, ChatOptions? options = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var (words, finish) = Answer(messages, options);
        for (var i = 0; i < words.Length; i++)
        {
            await Task.Delay(tokenDelay, clock, cancellationToken);
            var last = i == words.Length - 1;
            yield return new ChatResponseUpdate(ChatRole.Assistant, last ? words[i] : words[i] + " ")
            {
                ModelId = ModelId,
                FinishReason = last ? finish : null,
            };
        }
    }

    public object? GetService(Type serviceType, object? serviceKey = null) =>
        serviceType == typeof(ChatClientMetadata) ? new ChatClientMetadata(ProviderName, defaultModelId: ModelId) :
        serviceType.IsInstanceOfType(this) ? this : null;

    public void Dispose()
    {
    }

    /// <summary>The answer's words, its tokens: at most <see cref="ChatOptions.MaxOutputTokens"/> of them, as a real model would stop.</summary>
    private static (string[] Words, ChatFinishReason Finish) Answer(IEnumerable<ChatMessage> messages, ChatOptions? options)
    {
        var prompt = messages.LastOrDefault(m => m.Role == ChatRole.User)?.Text?.Trim() ?? "";
        var words = prompt.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries).Length;
        var answer = $"(offline model) You asked: \"{prompt}\". That is {words} word{(words == 1 ? "" : "s")} and {prompt.Length} characters. " +
                     "Configure Query:Provider=OpenAI for real answers.";
        var tokens = answer.Split(' ');
        return options?.MaxOutputTokens is { } max && tokens.Length > max ? (tokens[..max], ChatFinishReason.Length) : (tokens, ChatFinishReason.Stop);
    }
}
