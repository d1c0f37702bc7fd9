using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Text;
using SessionTracking.TestSupport;

namespace SessionTracking.Reliability.Tests;

/// <summary>
/// Throws ≥ 10,000 malformed, oversized, deeply nested, wrong-typed and random bodies and headers at every endpoint of a
/// real gateway process. Nothing may answer 5xx or hang, and the service must still serve correct requests afterwards.
/// </summary>
[TestCategory("SlowBVT")]
public sealed class FuzzTests(ITestOutputHelper output) : IDisposable
{
    private const int Cases = 10_500;
    private const string Secret = "SECRET-BODY-MARKER-7f3a";
    private readonly string _data = RepoPaths.NewTempDirectory("fuzz-tests");

    [Fact]
    public async Task Ten_thousand_hostile_requests_get_no_5xx_no_hang_and_leave_the_service_working()
    {
        var (process, address) = ServiceProcess.StartGateway(_data, new Dictionary<string, string?> { ["Gateway__MaxBodyBytes"] = "65536", ["Query__OfflineTokenDelayMs"] = "0" });
        await using (process)
        {
            await process.WaitUntilReadyAsync(new Uri(address, "/readyz"), TimeSpan.FromSeconds(90));
            using var client = new SessionClient(address);
            var validSession = await client.StartAsync();
            var endedSession = await client.StartAsync();
            await client.Http.PostAsync("/session/end", SessionClient.Json($$"""{"session_id":"{{endedSession}}"}"""));

            var statuses = new ConcurrentDictionary<int, int>();
            var failures = new ConcurrentBag<string>();
            var next = -1;
            await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(async () =>
            {
                using var http = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromSeconds(15) };
                int i;
                while ((i = Interlocked.Increment(ref next)) < Cases)
                {
                    var random = new Random(i);
                    using var request = HostileRequests.Create(random, validSession, endedSession, Secret);
                    try
                    {
                        using var response = await http.SendAsync(request);
                        var status = (int)response.StatusCode;
                        statuses.AddOrUpdate(status, 1, (_, n) => n + 1);
                        if (status >= 500)
                        {
                            failures.Add($"case {i}: {request.Method} {request.RequestUri} → {status}: {await response.Content.ReadAsStringAsync()}");
                        }
                    }
                    catch (TaskCanceledException)
                    {
                        failures.Add($"case {i}: {request.Method} {request.RequestUri} hung for 15 s");
                    }
                    catch (HttpRequestException ex)
                    {
                        failures.Add($"case {i}: {request.Method} {request.RequestUri} connection failed: {ex.Message}");
                    }
                }
            })));

            var rawAnswers = await SendRawGarbageAsync(address, 200);

            output.WriteLine($"{Cases} HTTP cases + {rawAnswers.Count} raw-socket cases; answers: {string.Join(", ", statuses.OrderBy(s => s.Key).Select(s => $"{s.Key}×{s.Value}"))}");
            foreach (var failure in failures.Take(20))
            {
                output.WriteLine(failure);
            }

            if (!failures.IsEmpty)
            {
                output.WriteLine(string.Join('\n', process.Output.Split('\n').Where(l => l.Contains("Exception", StringComparison.Ordinal) || l.Contains("   at ", StringComparison.Ordinal)).Take(40)));
            }

            Assert.Empty(failures);
            Assert.Equal(Cases, statuses.Values.Sum());
            Assert.DoesNotContain(rawAnswers, a => a.StartsWith("HTTP/1.1 5", StringComparison.Ordinal));

            // Still serving correct requests, and the valid session holds only well-formed events.
            var after = await client.StartAsync();
            Assert.Equal(200, await client.PostBatchAsync(after, ["ok-1", "ok-2"]));
            Assert.Equal(["ok-1", "ok-2"], await client.ReadIdsAsync(after));
            using var ready = await client.Http.GetAsync("/readyz");
            Assert.Equal(200, (int)ready.StatusCode);

            // Nothing of a request body is logged at Information level (the default).
            Assert.DoesNotContain(Secret, process.Output, StringComparison.Ordinal);
        }
    }

    /// <summary>Bytes that are not valid HTTP: Kestrel must answer 4xx or close, never 5xx.</summary>
    private static async Task<List<string>> SendRawGarbageAsync(Uri address, int count)
    {
        var answers = new List<string>();
        for (var i = 0; i < count; i++)
        {
            var random = new Random(1_000_000 + i);
            using var tcp = new TcpClient();
            await tcp.ConnectAsync(address.Host, address.Port);
            var stream = tcp.GetStream();
            stream.ReadTimeout = 5000;
            byte[] payload = (i % 4) switch
            {
                0 => RandomBytes(random, random.Next(1, 2048)),
                1 => Encoding.ASCII.GetBytes($"POST /session/event HTTP/1.1\r\nHost: x\r\nContent-Length: {random.Next(10, 100)}\r\n\r\n{{\"session_id\""),
                2 => Encoding.ASCII.GetBytes($"POST /session/event HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nZZZ\r\n{new string('{', 50)}\r\n"),
                _ => Encoding.ASCII.GetBytes($"GET /session/{new string('%', random.Next(1, 50))} HTTP/1.1\r\nHost: x\r\n{new string('X', random.Next(1, 40000))}: y\r\n\r\n"),
            };
            try
            {
                await stream.WriteAsync(payload);
                tcp.Client.Shutdown(SocketShutdown.Send);
                var buffer = new byte[64];
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                var read = await stream.ReadAsync(buffer, cts.Token);
                answers.Add(Encoding.ASCII.GetString(buffer, 0, read));
            }
            catch (Exception ex) when (ex is IOException or OperationCanceledException or SocketException)
            {
                answers.Add("closed");
            }
        }

        return answers;
    }

    private static byte[] RandomBytes(Random random, int length)
    {
        var bytes = new byte[length];
        random.NextBytes(bytes);
        return bytes;
    }

    public void Dispose() => Directory.Delete(_data, recursive: true);
}
