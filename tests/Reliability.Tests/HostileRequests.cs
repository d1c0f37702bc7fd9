using System.Net.Http.Headers;
using System.Text;

namespace SessionTracking.Reliability.Tests;

/// <summary>Seeded generator of hostile requests: each case number always produces the same request.</summary>
internal static class HostileRequests
{
    private static readonly string[] PostPaths = ["/session/start", "/session/event", "/session/end", "/query", "/query/stream", "/log_event"];
    private static readonly string[] ContentTypes =
    [
        "application/json", "text/plain", "text/plain; charset=utf-8", "application/json; charset=latin1", "application/xml",
        "multipart/form-data; boundary=x", "application/x-www-form-urlencoded", "", "application/json; charset=\"", "*/*", "application/problem+json",
    ];

    private static readonly string[] Fields = ["session_id", "user_id", "model_group", "experiment_id", "environment", "type", "data", "t", "id", "events", "end", "prompt", "query", "event_type"];

    public static HttpRequestMessage Create(Random random, string validSession, string endedSession, string secret)
    {
        if (random.Next(10) == 0)
        {
            var paths = new[] { $"/session/{validSession}", $"/session/{endedSession}", $"/session/{Uri.EscapeDataString(RandomText(random, random.Next(0, 64)))}", $"/session/{validSession}?limit={random.Next(-5, 200_000)}&after_seq={RandomNumber(random)}", "/session/%00%ff", "/readyz" };
            return new HttpRequestMessage(HttpMethod.Get, paths[random.Next(paths.Length)]);
        }

        var request = new HttpRequestMessage(HttpMethod.Post, PostPaths[random.Next(PostPaths.Length)]);
        var session = random.Next(3) switch { 0 => validSession, 1 => endedSession, _ => RandomText(random, random.Next(0, 40)) };
        var body = random.Next(9) switch
        {
            0 => RandomBytes(random, random.Next(0, 4096)),
            1 => Encoding.UTF8.GetBytes(Truncate(random, ValidLooking(random, session, secret))),
            2 => Encoding.UTF8.GetBytes(Nested(random, random.Next(20, 3000))),
            3 => Encoding.UTF8.GetBytes(WrongTypes(random, session)),
            4 => Encoding.UTF8.GetBytes($$$"""{"session_id":"{{{session}}}","type":"click","data":{"x":"{{{new string('x', random.Next(60_000, 200_000))}}}"}}"""),
            5 => Encoding.UTF8.GetBytes($$"""{"session_id":"{{session}}","events":[{{string.Join(',', Enumerable.Repeat("{\"type\":\"scroll\"}", random.Next(400, 3000)))}}]}"""),
            6 => Encoding.UTF8.GetBytes(RandomJson(random, 0)),
            7 => Encoding.UTF8.GetBytes(ValidLooking(random, session, secret).Replace("\"", random.Next(2) == 0 ? "'" : "\\\"", StringComparison.Ordinal)),
            _ => Encoding.UTF8.GetBytes(ValidLooking(random, session, secret)),
        };

        var content = new ByteArrayContent(body);
        var contentType = ContentTypes[random.Next(ContentTypes.Length)];
        if (contentType.Length > 0)
        {
            content.Headers.TryAddWithoutValidation("Content-Type", contentType);
        }

        if (random.Next(8) == 0)
        {
            content.Headers.TryAddWithoutValidation("Content-Encoding", random.Next(2) == 0 ? "gzip" : "br");
        }

        request.Content = content;
        if (random.Next(6) == 0)
        {
            request.Headers.TryAddWithoutValidation(RandomToken(random), AsciiText(random, random.Next(1, 2000)));
        }

        if (random.Next(10) == 0)
        {
            request.Headers.TryAddWithoutValidation("X-Forwarded-For", AsciiText(random, 30));
        }

        if (random.Next(10) == 0)
        {
            request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/xml"));
        }

        return request;
    }

    private static string ValidLooking(Random random, string session, string secret) => random.Next(5) switch
    {
        0 => $$$"""{"user_id":"{{{secret}}}","model_group":"g","environment":{"device":"desktop"}}""",
        1 => $$"""{"session_id":"{{session}}","type":"prompt","data":{"text":"{{secret}}"},"t":{{RandomNumber(random)}},"id":"{{RandomText(random, 8)}}"}""",
        2 => $$$"""{"session_id":"{{{session}}}","events":[{"type":"key","data":{"target":"{{{secret}}}"}}],"end":{{{(random.Next(2) == 0 ? "true" : "false")}}}}""",
        3 => $$"""{"prompt":"{{secret}}","session_id":"{{session}}"}""",
        _ => $$$"""{"user_id":"u","event_type":"copy","session_id":"{{{session}}}","data":{"selected_text":"{{{secret}}}"}}""",
    };

    private static string WrongTypes(Random random, string session)
    {
        var values = new[] { "null", "true", "12", "-1e400", "1.5", "[]", "{}", "\"\"", "\"x\"", "[{}]", "9223372036854775808", "\"\\ud800\"" };
        var fields = Enumerable.Range(0, random.Next(1, 6)).Select(_ => $"\"{Fields[random.Next(Fields.Length)]}\":{values[random.Next(values.Length)]}");
        return "{" + (random.Next(2) == 0 ? $"\"session_id\":\"{session}\"," : "") + string.Join(',', fields) + "}";
    }

    private static string Nested(Random random, int depth)
    {
        var open = random.Next(2) == 0 ? "[" : "{\"a\":";
        var close = open == "[" ? "]" : "}";
        return "{\"session_id\":\"x\",\"type\":\"click\",\"data\":" + string.Concat(Enumerable.Repeat(open, depth)) + "1" + string.Concat(Enumerable.Repeat(close, depth)) + "}";
    }

    private static string RandomJson(Random random, int depth)
    {
        if (depth > 4)
        {
            return RandomNumber(random).ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        return random.Next(5) switch
        {
            0 => "{" + string.Join(',', Enumerable.Range(0, random.Next(0, 5)).Select(_ => $"\"{(random.Next(2) == 0 ? Fields[random.Next(Fields.Length)] : RandomToken(random))}\":{RandomJson(random, depth + 1)}")) + "}",
            1 => "[" + string.Join(',', Enumerable.Range(0, random.Next(0, 5)).Select(_ => RandomJson(random, depth + 1))) + "]",
            2 => "\"" + RandomText(random, random.Next(0, 30)).Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal) + "\"",
            3 => random.Next(2) == 0 ? "true" : "null",
            _ => RandomNumber(random).ToString(System.Globalization.CultureInfo.InvariantCulture),
        };
    }

    private static string Truncate(Random random, string json) => json[..random.Next(0, json.Length)];

    private static long RandomNumber(Random random) => random.Next(4) switch
    {
        0 => random.NextInt64(long.MinValue, long.MaxValue),
        1 => random.Next(-10, 10),
        _ => 1_730_000_000_000 + random.Next(),
    };

    private static byte[] RandomBytes(Random random, int length)
    {
        var bytes = new byte[length];
        random.NextBytes(bytes);
        return bytes;
    }

    private static string RandomText(Random random, int length)
    {
        var chars = new char[length];
        for (var i = 0; i < length; i++)
        {
            chars[i] = random.Next(4) == 0 ? (char)random.Next(0x20, 0xD7FF) : (char)random.Next(0x21, 0x7F);
        }

        return new string(chars);
    }

    /// <summary>HttpClient sends only ASCII header values; non-ASCII header bytes go through the raw-socket cases.</summary>
    private static string AsciiText(Random random, int length) =>
        new([.. Enumerable.Range(0, length).Select(_ => (char)random.Next(0x21, 0x7F))]);

    private static string RandomToken(Random random) =>
        new([.. Enumerable.Range(0, random.Next(1, 20)).Select(_ => (char)random.Next('a', 'z' + 1))]);
}
