using System.Net;
using System.Text;
using SessionTracking.TestSupport;

namespace SessionTracking.Analytics.Tests;

[TestCategory("BVT")]
public sealed class OtlpLogTests
{
    [Fact]
    public async Task Logs_over_OTLP_carry_the_rendered_message_as_their_body_not_the_template()
    {
        await using var collector = await OtlpReceiver.StartAsync();
        await using var factory = new GatewayHost { Settings = collector.Settings };
        using var client = factory.CreateClient();
        using var health = await client.GetAsync("/healthz"); // starts the host, which logs where it listens
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);

        var bodies = new List<string>();
        for (var deadline = DateTime.UtcNow.AddSeconds(20); DateTime.UtcNow < deadline && !bodies.Any(IsListeningSentence);)
        {
            await Task.Delay(200);
            bodies = [.. collector.Received.Where(r => r.Signal == "logs").SelectMany(r => LogBodies(r.Body))];
        }

        // The gateway logs its listening sentence with the template "{Listening}".
        Assert.Contains(bodies, IsListeningSentence);
        Assert.DoesNotContain("{Listening}", bodies);
    }

    private static bool IsListeningSentence(string body) => body.Contains("listening on", StringComparison.Ordinal);

    /// <summary>
    /// The string bodies of the OTLP log records in a protobuf payload: LogRecord.body (field 5) holding an AnyValue
    /// whose string_value (field 1) is the text. Attributes (field 6) are framed differently, so a template argument
    /// that happens to hold the same text is not mistaken for a body.
    /// </summary>
    private static IEnumerable<string> LogBodies(byte[] payload)
    {
        for (var i = 0; i < payload.Length - 3; i++)
        {
            if (payload[i] != 0x2A)
            {
                continue;
            }

            var at = i + 1;
            if (!TryReadVarint(payload, ref at, out var outer) || at >= payload.Length || payload[at] != 0x0A)
            {
                continue;
            }

            var start = at + 1;
            if (!TryReadVarint(payload, ref start, out var length) || outer != length + (start - at) || start + length > payload.Length)
            {
                continue;
            }

            yield return Encoding.UTF8.GetString(payload, start, (int)length);
        }
    }

    private static bool TryReadVarint(byte[] bytes, ref int at, out long value)
    {
        value = 0;
        for (var shift = 0; at < bytes.Length && shift < 35; shift += 7)
        {
            var b = bytes[at++];
            value |= (long)(b & 0x7F) << shift;
            if ((b & 0x80) == 0)
            {
                return true;
            }
        }

        return false;
    }
}
