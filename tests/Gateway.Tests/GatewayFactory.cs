using System.Globalization;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using SessionTracking.TestSupport;

namespace SessionTracking.Gateway.Tests;

/// <summary>
/// The real gateway with its co-hosted silo, on a SQLite file in a temp directory and free Orleans ports.
/// Two factories on the same <see cref="DataDirectory"/> model a restart.
/// </summary>
public sealed class GatewayFactory : WebApplicationFactory<Program>
{
    public string DataDirectory { get; init; } = RepoPaths.NewTempDirectory("gateway-tests");

    public string DatabasePath => Path.Combine(DataDirectory, "sessions.db");

    /// <summary>Extra configuration for this host (e.g. security settings).</summary>
    public IReadOnlyDictionary<string, string> Settings { get; init; } = new Dictionary<string, string>();

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        builder.UseWebRoot(Path.Combine(RepoPaths.Root, "wwwroot"));
        builder.UseSetting("Storage:Sqlite:DatabasePath", DatabasePath);
        builder.UseSetting("Cluster:SiloPort", FreePort.Next().ToString(CultureInfo.InvariantCulture));
        builder.UseSetting("Cluster:GatewayPort", FreePort.Next().ToString(CultureInfo.InvariantCulture));
        builder.UseSetting("Gateway:MaxBodyBytes", "65536");
        builder.UseSetting("Gateway:MaxEventsPerBatch", "50");
        builder.UseSetting("Gateway:MaxEventDataBytes", "4096");
        foreach (var (key, value) in Settings)
        {
            builder.UseSetting(key, value);
        }
    }
}

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
