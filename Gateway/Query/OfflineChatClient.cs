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
        var message = new ChatMessage(ChatRole.Assistant, Answer(messages));
        return Task.FromResult(new ChatResponse(message) { ModelId = ModelId });
    }

    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(
        IEnumerable<ChatMessage> messages, ChatOptions? options = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var words = Answer(messages).Split(' ');
        for (var i = 0; i < words.Length; i++)
        {
            await Task.Delay(tokenDelay, clock, cancellationToken);
            yield return new ChatResponseUpdate(ChatRole.Assistant, i == words.Length - 1 ? words[i] : words[i] + " ") { ModelId = ModelId };
        }
    }

    public object? GetService(Type serviceType, object? serviceKey = null) =>
        serviceType == typeof(ChatClientMetadata) ? new ChatClientMetadata(ProviderName, defaultModelId: ModelId) :
        serviceType.IsInstanceOfType(this) ? this : null;

    public void Dispose()
    {
    }

    private static string Answer(IEnumerable<ChatMessage> messages)
    {
        var prompt = messages.LastOrDefault(m => m.Role == ChatRole.User)?.Text?.Trim() ?? "";
        var words = prompt.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries).Length;
        return $"(offline model) You asked: \"{prompt}\". That is {words} word{(words == 1 ? "" : "s")} and {prompt.Length} characters. " +
               "Configure Query:Provider=OpenAI for real answers.";
    }
}
