using System.Collections.Concurrent;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using SessionTracking.TestSupport;

namespace SessionTracking.Gateway.Tests;

/// <summary>
/// An OpenAI-compatible chat completions endpoint on loopback that streams fixed chunks in the wire format of
/// api.openai.com (the real one is out of reach here), so the gateway's OpenAI provider runs end to end.
/// </summary>
public sealed class FakeOpenAiServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private FakeOpenAiServer(WebApplication app, string baseAddress, ConcurrentQueue<(string? Authorization, JsonElement Body)> requests)
    {
        _app = app;
        BaseAddress = baseAddress;
        Requests = requests;
    }

    public string BaseAddress { get; }

    public ConcurrentQueue<(string? Authorization, JsonElement Body)> Requests { get; }

    /// <summary>The gateway settings that send /query to this server as model <c>fake-gpt</c>, with <paramref name="more"/>.</summary>
    public Dictionary<string, string> GatewaySettings(params (string Key, string Value)[] more)
    {
        var settings = new Dictionary<string, string>
        {
            ["Query:Provider"] = "OpenAI",
            ["Query:Endpoint"] = BaseAddress,
            ["Query:ApiKey"] = "test-key",
            ["Query:Model"] = "fake-gpt",
        };
        foreach (var (key, value) in more)
        {
            settings[key] = value;
        }

        return settings;
    }

    public static async Task<FakeOpenAiServer> StartAsync(string[] chunks, int outputTokens)
    {
        var requests = new ConcurrentQueue<(string? Authorization, JsonElement Body)>();
        var (app, baseAddress) = await LoopbackApp.StartAsync(app => app.MapPost("/v1/chat/completions", async (HttpContext context) =>
        {
            var body = await JsonDocument.ParseAsync(context.Request.Body);
            requests.Enqueue((context.Request.Headers.Authorization.ToString(), body.RootElement.Clone()));
            var usage = $$"""{"prompt_tokens":12,"completion_tokens":{{outputTokens}},"total_tokens":{{12 + outputTokens}}}""";
            if (!body.RootElement.TryGetProperty("stream", out var stream) || !stream.GetBoolean())
            {
                context.Response.ContentType = "application/json";
                await context.Response.WriteAsync($$$"""{"id":"c1","object":"chat.completion","created":1764000000,"model":"fake-gpt-2026","choices":[{"index":0,"message":{"role":"assistant","content":{{{JsonSerializer.Serialize(string.Concat(chunks))}}}},"finish_reason":"stop"}],"usage":{{{usage}}}}""");
                return;
            }

            context.Response.ContentType = "text/event-stream";
            foreach (var chunk in chunks)
            {
                await WriteAsync(context, $$"""{"id":"c1","object":"chat.completion.chunk","created":1764000000,"model":"fake-gpt-2026","choices":[{"index":0,"delta":{"content":{{JsonSerializer.Serialize(chunk)}}},"finish_reason":null}]}""");
            }

            await WriteAsync(context, """{"id":"c1","object":"chat.completion.chunk","created":1764000000,"model":"fake-gpt-2026","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}""");
            await WriteAsync(context, $$$"""{"id":"c1","object":"chat.completion.chunk","created":1764000000,"model":"fake-gpt-2026","choices":[],"usage":{{{usage}}}}""");
            await context.Response.WriteAsync("data: [DONE]\n\n");
        }));
        return new FakeOpenAiServer(app, baseAddress + "/v1", requests);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    private static async Task WriteAsync(HttpContext context, string json)
    {
        await context.Response.WriteAsync($"data: {json}\n\n");
        await context.Response.Body.FlushAsync();
    }
}
