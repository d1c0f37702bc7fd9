using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Logging;

namespace SessionTracking.TestSupport;

/// <summary>A quiet Kestrel app on a free loopback port: the base of in-test stand-ins for external HTTP services.</summary>
public static class LoopbackApp
{
    public static async Task<(WebApplication App, string BaseAddress)> StartAsync(Action<WebApplication> map)
    {
        var port = FreePort.Next();
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        map(app);
        await app.StartAsync();
        return (app, $"http://127.0.0.1:{port}");
    }
}
