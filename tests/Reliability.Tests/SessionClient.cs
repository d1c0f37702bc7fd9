using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;

namespace SessionTracking.Reliability.Tests;

/// <summary>A well-behaved API client: retries 503/429 and connection failures with the same event ids.</summary>
internal sealed class SessionClient(Uri baseAddress) : IDisposable
{
    private readonly HttpClient _http = new() { BaseAddress = baseAddress, Timeout = TimeSpan.FromSeconds(30) };

    public HttpClient Http => _http;

    public async Task<string> StartAsync(string userId = "u")
    {
        using var response = await _http.PostAsync("/session/start", Json($$"""{"user_id":"{{userId}}","model_group":"g"}"""));
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("session_id").GetString()!;
    }

    /// <summary>Posts one batch once. Returns the HTTP status, or 0 when the connection failed.</summary>
    public async Task<int> PostBatchAsync(string sessionId, IEnumerable<string> ids, CancellationToken cancellationToken = default)
    {
        var events = string.Join(',', ids.Select(id => $$"""{"type":"scroll","data":{"scrollY":1},"id":"{{id}}"}"""));
        try
        {
            using var response = await _http.PostAsync("/session/event", Json($$"""{"session_id":"{{sessionId}}","events":[{{events}}]}"""), cancellationToken);
            return (int)response.StatusCode;
        }
        catch (HttpRequestException)
        {
            return 0;
        }
        catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return 0;
        }
    }

    /// <summary>Every event id stored for the session, in sequence order, read page by page.</summary>
    public async Task<List<string>> ReadIdsAsync(string sessionId)
    {
        var ids = new List<string>();
        long after = 0;
        while (true)
        {
            using var response = await _http.GetAsync($"/session/{sessionId}?after_seq={after}&limit=1000");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var document = await response.Content.ReadFromJsonAsync<JsonElement>();
            ids.AddRange(document.GetProperty("events").EnumerateArray().Select(e => e.GetProperty("id").GetString()!));
            if (document.GetProperty("next_after_seq").ValueKind == JsonValueKind.Null)
            {
                return ids;
            }

            after = document.GetProperty("next_after_seq").GetInt64();
        }
    }

    public static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    public void Dispose() => _http.Dispose();
}
