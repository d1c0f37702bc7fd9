using System.Collections.Concurrent;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace SessionTracking.TestSupport;

/// <summary>
/// An OTLP/HTTP collector on loopback that keeps what it receives, per signal (<c>traces</c>, <c>metrics</c>,
/// <c>logs</c>). Payloads are protobuf; names and attribute strings appear in them as UTF-8, which is what tests look for.
/// </summary>
public sealed class OtlpReceiver : IAsyncDisposable
{
    private readonly WebApplication _app;

    private OtlpReceiver(WebApplication app, string endpoint, ConcurrentQueue<(string Signal, byte[] Body)> received)
    {
        _app = app;
        Endpoint = endpoint;
        Received = received;
    }

    /// <summary>The base address to give as OTEL_EXPORTER_OTLP_ENDPOINT (with OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf).</summary>
    public string Endpoint { get; }

    public ConcurrentQueue<(string Signal, byte[] Body)> Received { get; }

    /// <summary>The settings that point a process at this receiver and make it export every few hundred milliseconds.</summary>
    public Dictionary<string, string> Settings => new()
    {
        ["OTEL_EXPORTER_OTLP_ENDPOINT"] = Endpoint,
        ["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf",
        ["OTEL_METRIC_EXPORT_INTERVAL"] = "500",
        ["OTEL_BSP_SCHEDULE_DELAY"] = "200",
        ["OTEL_BLRP_SCHEDULE_DELAY"] = "200",
    };

    public static async Task<OtlpReceiver> StartAsync()
    {
        var received = new ConcurrentQueue<(string Signal, byte[] Body)>();
        var (app, baseAddress) = await LoopbackApp.StartAsync(app => app.MapPost("/v1/{signal}", async (string signal, HttpRequest request) =>
        {
            using var body = new MemoryStream();
            await request.Body.CopyToAsync(body);
            received.Enqueue((signal, body.ToArray()));
            return Results.Ok();
        }));
        return new OtlpReceiver(app, baseAddress, received);
    }

    /// <summary>Waits until some payload of <paramref name="signal"/> contains every one of <paramref name="texts"/>.</summary>
    public async Task<bool> WaitForAsync(string signal, TimeSpan timeout, params string[] texts)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (Received.Any(r => r.Signal == signal && texts.All(t => Contains(r.Body, t))))
            {
                return true;
            }

            await Task.Delay(100);
        }

        return false;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    private static bool Contains(byte[] body, string text) => body.AsSpan().IndexOf(Encoding.UTF8.GetBytes(text)) >= 0;
}
