using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Options;
using SessionTracking.Gateway.Http;
using SessionTracking.Gateway.Query;
using SessionTracking.Gateway.Sessions;
using SessionTracking.TestSupport;

namespace SessionTracking.Gateway.Tests;

/// <summary>
/// The single-pass reader of POST /session/event must read every body it takes to exactly the batch the document path
/// (<see cref="EventParser"/>) reads, and leave every body the document path refuses to it (so the errors keep their
/// wording).
/// </summary>
[TestCategory("BVT")]
public sealed class AppendBodyReaderTests
{
    private const string Id = "AAAAAAAAAAAAAAAAAAAAAAAA";

    private static readonly WireLimits Limits = new(
        Options.Create(new GatewayOptions { MaxEventsPerBatch = 3, MaxEventDataBytes = 64, MaxFieldLength = 8, MaxJsonDepth = 5 }),
        Options.Create(new QueryOptions()));

    private readonly AppendBodyReader _fast = new(Limits);
    private readonly EventParser _parser = new(Limits);

    public static TheoryData<string> Accepted => new()
    {
        $$$"""{"session_id":"{{{Id}}}","type":"click","data":{"target":"BUTTON","x":150},"t":1730000000000}""",
        $$$"""{"type":"prompt","data":{"text":"hé \u00e9 \"q\" 😀"},"session_id":"{{{Id}}}","id":"p1","sent_at":1730000000500}""",
        $$$"""{"session_id":"{{{Id}}}","type":"my.custom:event-1","data":null,"t":1730000000000.75}""",
        $$$"""{"session_id":"{{{Id}}}","type":"scroll"}""",
        $$$"""{"session_id":"{{{Id}}}","typ\u0065":"cl\u0069ck","unknown":{"a":[1,{"b":2}]},"t":null,"id":null}""",
        $$$"""{"session_id":"{{{Id}}}","events":[{"type":"click","id":"a"},{"type":"copy","data":{"text":"x"},"t":5,"id":"b"}],"end":true}""",
        $$$"""{"session_id":"{{{Id}}}","events":[],"end":true}""",
        $$$"""{"session_id":"{{{Id}}}","end":true}""",
        $$$"""{"session_id":"{{{Id}}}","events":[{"type":"click"}],"end":false,"sent_at":null}""",
        $$$"""  {"session_id":"{{{Id}}}","events":[{"type":"click","data":{ "x" : [ 1 , 2 ] }}]}  """,
        $$$"""{"session_id":"{{{Id}}}","events":[{"type":"click"}],"type":"ignored-when-a-batch","data":{}}""",
    };

    public static TheoryData<string> Declined => new()
    {
        "[]",
        "{",
        $$$"""{"session_id":"{{{Id}}}","type":"click"} x""",
        """{"type":"click"}""",
        """{"session_id":"short","type":"click"}""",
        $$$"""{"session_id":7,"type":"click"}""",
        $$$"""{"session_id":"{{{Id}}}"}""",
        $$$"""{"session_id":"{{{Id}}}","type":"no spaces"}""",
        $$$"""{"session_id":"{{{Id}}}","type":null}""",
        $$$"""{"session_id":"{{{Id}}}","type":""}""",
        $$$"""{"session_id":"{{{Id}}}","type":"click","data":[1]}""",
        $$$"""{"session_id":"{{{Id}}}","type":"click","data":{"text":"more than sixty-four bytes of data, which this gateway's limit refuses"}}""",
        $$$"""{"session_id":"{{{Id}}}","type":"click","id":""}""",
        $$$"""{"session_id":"{{{Id}}}","type":"click","id":"longer than eight"}""",
        $$$"""{"session_id":"{{{Id}}}","type":"click","t":-1}""",
        $$$"""{"session_id":"{{{Id}}}","type":"click","t":"1730000000000"}""",
        $$$"""{"session_id":"{{{Id}}}","type":"click","t":1e300}""",
        $$$"""{"session_id":"{{{Id}}}","type":"click","data":""" + """{"a":{"b":{"c":{"d":{}}}}}}""", // deeper than MaxJsonDepth
        $$$"""{"session_id":"{{{Id}}}","type":"click","id":"\ud800"}""",
        $$$"""{"session_id":"{{{Id}}}","events":[]}""",
        $$$"""{"session_id":"{{{Id}}}","events":{}}""",
        $$$"""{"session_id":"{{{Id}}}","events":[1]}""",
        $$$"""{"session_id":"{{{Id}}}","events":[{"type":"a"},{"type":"b"},{"type":"c"},{"type":"d"}]}""",
        $$$"""{"session_id":"{{{Id}}}","events":[{"type":"click"}],"end":"yes"}""",
        $$$"""{"session_id":"{{{Id}}}","events":[{"type":"click"}],"sent_at":true}""",
    };

    /// <summary>Valid, but which of a repeated field counts is the document path's rule: left to it.</summary>
    public static TheoryData<string> Repeated => new()
    {
        $$$"""{"session_id":"{{{Id}}}","type":"click","type":"copy"}""",
        $$$"""{"session_id":"{{{Id}}}","events":[{"type":"click","t":1,"t":2}]}""",
        $$$"""{"session_id":"{{{Id}}}","session_id":"{{{Id}}}","end":true}""",
    };

    [Theory]
    [MemberData(nameof(Accepted))]
    public void A_body_it_takes_reads_to_the_batch_the_document_path_reads(string json)
    {
        Assert.True(_fast.TryRead(Encoding.UTF8.GetBytes(json), out var fast));
        Assert.True(TryReadWithDocument(json, out var sessionId, out var batch));

        Assert.Equal(sessionId, fast!.SessionId);
        Assert.Equal((batch!.End, batch.SentAt), (fast.Batch.End, fast.Batch.SentAt));
        Assert.Equal(batch.Events, fast.Batch.Events); // records: type, data text, client time and id
    }

    [Theory]
    [MemberData(nameof(Declined))]
    public void A_body_the_document_path_refuses_is_left_to_it(string json)
    {
        Assert.False(_fast.TryRead(Encoding.UTF8.GetBytes(json), out var fast));
        Assert.Null(fast);
        Assert.False(TryReadWithDocument(json, out _, out _));
    }

    [Theory]
    [MemberData(nameof(Repeated))]
    public void A_repeated_field_is_left_to_the_document_path(string json)
    {
        Assert.False(_fast.TryRead(Encoding.UTF8.GetBytes(json), out _));
        Assert.True(TryReadWithDocument(json, out _, out _));
    }

    [Fact]
    public void Guide_types_are_read_as_the_shared_strings()
    {
        Assert.True(_fast.TryRead(Encoding.UTF8.GetBytes($$$"""{"session_id":"{{{Id}}}","type":"model_response"}"""), out var fast));

        Assert.Same(EventParser.GuideTypes.Single(t => t == "model_response"), fast!.Batch.Events[0].Type);
    }

    private bool TryReadWithDocument(string json, out string? sessionId, out AppendBatch? batch)
    {
        sessionId = null;
        batch = null;
        try
        {
            using var document = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = Limits.Gateway.MaxJsonDepth });
            if (document.RootElement.ValueKind != JsonValueKind.Object
                || !SessionIds.TryRead(document.RootElement, required: true, out sessionId, out _)
                || !_parser.TryParseBatch(document.RootElement, out var parsed, out _))
            {
                return false;
            }

            batch = parsed;
            return true;
        }
        catch (JsonException)
        {
            return false;
        }
    }
}
