using SessionTracking.TestSupport;

namespace SessionTracking.Contract.Tests;

/// <summary>The validator itself rejects answers that differ from the document, so a passing run means something.</summary>
[TestCategory("SlowBVT")]
[Collection(ContractCollection.Name)]
public sealed class ValidatorTests(ContractGateway gateway)
{
    private const string Ack = """{"session_id":"AAAAAAAAAAAAAAAAAAAAAAAA","accepted":1,"duplicates":0,"last_seq":1,"ended":false}""";

    [Fact]
    public void A_conforming_answer_passes() =>
        Assert.Empty(gateway.Contract.Check("POST", "/session/event", 200, "application/json; charset=utf-8", Ack));

    [Theory]
    [InlineData(200, "application/json", """{"session_id":"AAAAAAAAAAAAAAAAAAAAAAAA","accepted":1,"duplicates":0,"last_seq":"1","ended":false}""", "last_seq")]
    [InlineData(200, "application/json", """{"session_id":"AAAAAAAAAAAAAAAAAAAAAAAA","accepted":1,"duplicates":0,"ended":false}""", "last_seq")]
    [InlineData(200, "text/html", Ack, "media type")]
    [InlineData(418, "application/problem+json", """{"status":418}""", "not declared")]
    [InlineData(404, "application/problem+json", "", "not JSON")]
    [InlineData(404, "application/problem+json", """{"status":"404"}""", "status")]
    public void A_differing_answer_is_reported(int status, string mediaType, string body, string named)
    {
        var mismatches = gateway.Contract.Check("POST", "/session/event", status, mediaType, body);

        Assert.Contains(mismatches, m => m.Contains(named, StringComparison.Ordinal));
    }

    [Fact]
    public void A_stream_with_an_unknown_event_is_reported()
    {
        const string Good = "event: token\ndata: {\"text\":\"Hi\"}\n\nevent: done\ndata: {\"response\":\"Hi\",\"model\":\"m\",\"provider\":\"p\",\"latency_ms\":3,\"tokens\":1,\"stopped\":false,\"citations\":[],\"session_id\":null}\n\n";
        const string Bad = "event: token\ndata: {\"text\":\"Hi\"}\n\nevent: finished\ndata: {\"response\":\"Hi\"}\n\n";

        Assert.Empty(gateway.Contract.Check("POST", "/query/stream", 200, "text/event-stream", Good));
        Assert.NotEmpty(gateway.Contract.Check("POST", "/query/stream", 200, "text/event-stream", Bad));
    }
}
