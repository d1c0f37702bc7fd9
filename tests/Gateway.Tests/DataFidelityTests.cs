using System.Text.Json;
using SessionTracking.TestSupport;

namespace SessionTracking.Gateway.Tests;

/// <summary>
/// What the gateway accepts as an event's <c>data</c> comes back in the session document exactly as sent, whatever it
/// holds (<see cref="PoisonData"/>): big integers, extended-JSON look-alikes, odd keys, duplicates, deep nesting.
/// </summary>
[TestCategory("BVT")]
[Collection(GatewayCollection.Name)]
public sealed class DataFidelityTests(SmallLimitsGateway gateway)
{
    private readonly HttpClient _client = gateway.CreateClient();

    [Fact]
    public async Task Every_accepted_data_object_is_served_back_exactly_as_sent()
    {
        var id = await _client.StartSessionAsync();
        var events = string.Join(",", PoisonData.Objects.Select((data, i) => $$"""{"type":"{{(i % 2 == 0 ? "model_response" : "custom")}}","id":"p{{i}}","data":{{data}}}"""));

        var (status, body, _) = await _client.PostAsync("/session/event", $$"""{"session_id":"{{id}}","events":[{{events}}]}""");

        Assert.True(status == 200, body.ToString());
        Assert.Equal(PoisonData.Objects.Count, body.GetProperty("accepted").GetInt32());
        var stored = (await _client.GetSessionAsync(id)).GetProperty("events").EnumerateArray().Select(e => e.GetProperty("data").GetRawText());
        Assert.Equal(PoisonData.Objects, stored);
    }

    [Fact]
    public async Task Data_that_is_one_object_too_deep_is_refused_with_nothing_stored()
    {
        var id = await _client.StartSessionAsync();
        var tooDeep = "{\"deep\":" + new string('[', 200) + "1" + new string(']', 200) + "}";

        var (status, body, mediaType) = await _client.PostAsync("/session/event", $$"""{"session_id":"{{id}}","events":[{"type":"custom","id":"ok"},{"type":"custom","data":{{tooDeep}}}]}""");

        Assert.Equal(400, status);
        Assert.Equal("application/problem+json", mediaType);
        Assert.Equal(JsonValueKind.String, body.GetProperty("detail").ValueKind);
        Assert.Empty((await _client.GetSessionAsync(id)).GetProperty("events").EnumerateArray());
    }
}
