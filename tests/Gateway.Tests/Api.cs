using System.Net.Http.Json;
using System.Text;
using System.Text.Json;

namespace SessionTracking.Gateway.Tests;

/// <summary>Small helpers for calling the API the way clients do.</summary>
public static class Api
{
    public static StringContent Json(string json, string mediaType = "application/json") => new(json, Encoding.UTF8, mediaType);

    public static async Task<string> StartSessionAsync(this HttpClient client, string userId = "user-1", string modelGroup = "gpt-4")
    {
        using var response = await client.PostAsync("/session/start", Json($$"""{"user_id":"{{userId}}","model_group":"{{modelGroup}}"}"""));
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("session_id").GetString()!;
    }

    public static async Task<JsonElement> GetSessionAsync(this HttpClient client, string sessionId, string query = "")
    {
        using var response = await client.GetAsync($"/session/{sessionId}{query}");
        response.EnsureSuccessStatusCode();
        return await response.Content.ReadFromJsonAsync<JsonElement>();
    }

    public static async Task<(int Status, JsonElement Body, string? MediaType)> PostAsync(this HttpClient client, string path, string json, string mediaType = "application/json")
    {
        using var response = await client.PostAsync(path, Json(json, mediaType));
        var text = await response.Content.ReadAsStringAsync();
        var body = text.Length > 0 ? JsonDocument.Parse(text).RootElement.Clone() : default;
        return ((int)response.StatusCode, body, response.Content.Headers.ContentType?.MediaType);
    }
}
