using System.Globalization;
using System.Net;
using System.Net.ServerSentEvents;
using System.Text.Json;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using SessionTracking.Gateway.Query;
using SessionTracking.TestSupport;

namespace SessionTracking.Gateway.Tests;

/// <summary>
/// The model budgets of /query and /query/stream (Query:Budgets), the answer cap (Query:MaxOutputTokens) and
/// Query:RequireSession: refusals come before the model is called, so a refused request spends nothing.
/// </summary>
[TestCategory("BVT")]
public sealed class ModelBudgetTests
{
    [Fact]
    public async Task Requests_beyond_the_address_budget_are_429_with_Retry_After_and_do_not_reach_the_model()
    {
        var model = new CountingChatClient();
        await using var factory = Gateway(model, new() { ["Query:Budgets:AddressRequestsPerWindow"] = "3" });
        var client = factory.CreateClient();

        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(200, (await client.PostAsync("/query", """{"prompt":"hi"}""")).Status);
        }

        foreach (var path in new[] { "/query", "/query/stream" })
        {
            using var refused = await SendAsync(client, path, """{"prompt":"hi"}""");
            var problem = await AssertOverBudgetAsync(refused, expectedRetryAfter: 20); // one request of 3 per 60 s refills in 20 s
            Assert.Contains("Query:Budgets:AddressRequestsPerWindow", problem.GetProperty("detail").GetString());
        }

        Assert.Equal(3, model.Calls);
    }

    [Fact]
    public async Task Requests_beyond_a_session_budget_are_429_for_that_session_only_streamed_or_not()
    {
        var model = new CountingChatClient();
        await using var factory = Gateway(model, new() { ["Query:Budgets:SessionRequestsPerWindow"] = "2", ["Query:Budgets:AddressRequestsPerWindow"] = "0" });
        var client = factory.CreateClient();
        var spent = await client.StartSessionAsync();
        var other = await client.StartSessionAsync();

        Assert.Equal(200, (await client.PostAsync("/query", $$"""{"prompt":"one","session_id":"{{spent}}"}""")).Status);
        using (var streamed = await SendAsync(client, "/query/stream", $$"""{"prompt":"two","session_id":"{{spent}}"}"""))
        {
            Assert.Equal("done", (await ReadEventsAsync(streamed))[^1].EventType);
        }

        foreach (var path in new[] { "/query/stream", "/query" })
        {
            using var refused = await SendAsync(client, path, $$"""{"prompt":"three","session_id":"{{spent}}"}""");
            var problem = await AssertOverBudgetAsync(refused, expectedRetryAfter: 30);
            Assert.Contains("Query:Budgets:SessionRequestsPerWindow", problem.GetProperty("detail").GetString());
        }

        Assert.Equal(200, (await client.PostAsync("/query", $$"""{"prompt":"mine","session_id":"{{other}}"}""")).Status);
        Assert.Equal(3, model.Calls);
        Assert.Equal(4, (await client.GetSessionAsync(spent)).GetProperty("events").GetArrayLength()); // two exchanges, nothing of the refused ones
    }

    [Theory]
    [InlineData("/query")]
    [InlineData("/query/stream")]
    public async Task Tokens_of_the_answers_exhaust_the_session_token_budget_and_refuse_the_next_request(string path)
    {
        // The offline model reports no usage: the estimate is (prompt + answer characters) / 4, about 40 tokens here.
        var model = new CountingChatClient();
        await using var factory = Gateway(model, new() { ["Query:Budgets:SessionTokensPerWindow"] = "100", ["Query:Budgets:AddressRequestsPerWindow"] = "0" });
        var client = factory.CreateClient();
        var sessionId = await client.StartSessionAsync();
        var body = $$"""{"prompt":"What is machine learning, briefly?","session_id":"{{sessionId}}"}""";

        HttpStatusCode status;
        var answered = 0;
        do
        {
            using var response = await SendAsync(client, path, body);
            status = response.StatusCode;
            if (status == HttpStatusCode.OK)
            {
                answered++;
                await response.Content.ReadAsStringAsync(); // the whole stream: its tokens are charged before `done`
            }
            else
            {
                var problem = await AssertOverBudgetAsync(response, expectedRetryAfter: null);
                Assert.Contains("Query:Budgets:SessionTokensPerWindow", problem.GetProperty("detail").GetString());
            }
        }
        while (status == HttpStatusCode.OK && answered < 10);

        Assert.InRange(answered, 2, 3); // 100 tokens last two or three answers of about 40, never more
        Assert.Equal(answered, model.Calls);
    }

    [Fact]
    public async Task The_provider_reported_tokens_are_charged_and_the_answer_cap_is_sent_to_it()
    {
        await using var provider = await FakeOpenAiServer.StartAsync(["Machine ", "learning."], outputTokens: 90);
        await using var factory = new GatewayHost
        {
            Settings = provider.GatewaySettings(("Query:MaxOutputTokens", "321"), ("Query:Budgets:SessionTokensPerWindow", "100")),
        };
        var client = factory.CreateClient();
        var sessionId = await client.StartSessionAsync();

        // 12 prompt + 90 answer tokens as the provider bills them: over 100, although the text is a few characters.
        Assert.Equal(200, (await client.PostAsync("/query", $$"""{"prompt":"hi","session_id":"{{sessionId}}"}""")).Status);
        using var refused = await SendAsync(client, "/query/stream", $$"""{"prompt":"hi","session_id":"{{sessionId}}"}""");
        await AssertOverBudgetAsync(refused, expectedRetryAfter: 2); // 3 tokens short at 100 per 60 s

        var request = Assert.Single(provider.Requests).Body;
        var cap = request.TryGetProperty("max_completion_tokens", out var completion) ? completion : request.GetProperty("max_tokens");
        Assert.Equal(321, cap.GetInt32());
    }

    [Fact]
    public async Task A_budget_refills_after_its_window()
    {
        var model = new CountingChatClient();
        await using var factory = Gateway(model, new() { ["Query:Budgets:WindowSeconds"] = "1", ["Query:Budgets:AddressRequestsPerWindow"] = "1" });
        var client = factory.CreateClient();

        Assert.Equal(200, (await client.PostAsync("/query", """{"prompt":"first"}""")).Status);
        using (var refused = await SendAsync(client, "/query", """{"prompt":"second"}"""))
        {
            await AssertOverBudgetAsync(refused, expectedRetryAfter: 1);
        }

        await Task.Delay(TimeSpan.FromSeconds(1.1));
        Assert.Equal(200, (await client.PostAsync("/query", """{"prompt":"third"}""")).Status);
        Assert.Equal(2, model.Calls);
    }

    [Fact]
    public async Task MaxOutputTokens_caps_the_offline_answer_streamed_or_not()
    {
        var model = new CountingChatClient();
        await using var factory = Gateway(model, new() { ["Query:MaxOutputTokens"] = "5" });
        var client = factory.CreateClient();

        var answer = (await client.PostAsync("/query", """{"prompt":"a question with more than five words in its answer"}""")).Body.GetProperty("response").GetString()!;
        using var streamed = await SendAsync(client, "/query/stream", """{"prompt":"a question with more than five words in its answer"}""");
        var events = await ReadEventsAsync(streamed);

        Assert.Equal(5, answer.Split(' ').Length);
        Assert.Equal(5, events.Count(e => e.EventType == "token"));
        Assert.Equal(answer, JsonDocument.Parse(events[^1].Data).RootElement.GetProperty("response").GetString());
        Assert.All(model.MaxOutputTokens, max => Assert.Equal(5, max));
    }

    [Fact]
    public async Task RequireSession_refuses_a_query_without_a_session_before_the_model_is_called()
    {
        var model = new CountingChatClient();
        await using var factory = Gateway(model, new() { ["Query:RequireSession"] = "true" });
        var client = factory.CreateClient();
        var sessionId = await client.StartSessionAsync();

        foreach (var path in new[] { "/query", "/query/stream" })
        {
            var (status, problem, mediaType) = await client.PostAsync(path, """{"prompt":"anonymous"}""");
            Assert.Equal((400, "application/problem+json"), (status, mediaType));
            Assert.Contains("Query:RequireSession", problem.GetProperty("detail").GetString());
            Assert.Equal(404, (await client.PostAsync(path, """{"prompt":"unknown","session_id":"AAAAAAAAAAAAAAAAAAAAAAAA"}""")).Status);
        }

        Assert.Equal(0, model.Calls);
        Assert.Equal(200, (await client.PostAsync("/query", $$"""{"prompt":"mine","session_id":"{{sessionId}}"}""")).Status);
        Assert.Equal(1, model.Calls);
    }

    [Theory]
    [InlineData("Query:Budgets:WindowSeconds", "0")]
    [InlineData("Query:Budgets:SessionRequestsPerWindow", "-1")]
    [InlineData("Query:Budgets:AddressTokensPerWindow", "-5")]
    [InlineData("Query:MaxOutputTokens", "0")]
    public async Task Bad_budget_settings_stop_start_up_naming_the_setting(string setting, string value)
    {
        await using var factory = new GatewayHost { Settings = new Dictionary<string, string> { [setting] = value } };

        var error = Assert.ThrowsAny<OptionsValidationException>(() => factory.CreateClient());
        Assert.Contains(setting + " must be between", error.Message, StringComparison.Ordinal);
    }

    private static GatewayHost Gateway(CountingChatClient model, Dictionary<string, string> settings) => new()
    {
        Settings = settings,
        TestServices = services => services.AddSingleton<IChatClient>(model),
    };

    private static Task<HttpResponseMessage> SendAsync(HttpClient client, string path, string json) =>
        client.SendAsync(new HttpRequestMessage(HttpMethod.Post, path) { Content = Api.Json(json) }, HttpCompletionOption.ResponseHeadersRead);

    private static async Task<JsonElement> AssertOverBudgetAsync(HttpResponseMessage response, int? expectedRetryAfter)
    {
        Assert.Equal(HttpStatusCode.TooManyRequests, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var retryAfter = int.Parse(Assert.Single(response.Headers.GetValues("Retry-After")), CultureInfo.InvariantCulture);
        if (expectedRetryAfter is { } expected)
        {
            Assert.InRange(retryAfter, expected - 1, expected); // whole seconds, rounded up, of a continuous refill
        }
        else
        {
            Assert.True(retryAfter >= 1);
        }

        var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();
        Assert.Equal("Model budget exceeded", problem.GetProperty("title").GetString());
        return problem;
    }

    private static async Task<List<SseItem<string>>> ReadEventsAsync(HttpResponseMessage response)
    {
        var items = new List<SseItem<string>>();
        await foreach (var item in SseParser.Create(await response.Content.ReadAsStreamAsync()).EnumerateAsync())
        {
            items.Add(item);
        }

        return items;
    }

    /// <summary>The offline model without delays, counting the calls that reach it and the answer caps they carry.</summary>
    private sealed class CountingChatClient() : DelegatingChatClient(new OfflineChatClient(TimeSpan.Zero, TimeProvider.System))
    {
        private int _calls;

        public int Calls => Volatile.Read(ref _calls);

        public System.Collections.Concurrent.ConcurrentQueue<int?> MaxOutputTokens { get; } = new();

        public override Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
        {
            Count(options);
            return base.GetResponseAsync(messages, options, cancellationToken);
        }

        public override IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
        {
            Count(options);
            return base.GetStreamingResponseAsync(messages, options, cancellationToken);
        }

        private void Count(ChatOptions? options)
        {
            Interlocked.Increment(ref _calls);
            MaxOutputTokens.Enqueue(options?.MaxOutputTokens);
        }
    }
}
