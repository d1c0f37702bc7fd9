using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using SessionTracking.TestSupport;

namespace SessionTracking.Reliability.Tests;

/// <summary>
/// The bench/ programs run and report, briefly and at small sizes: the bare-Kestrel baseline answers, the load tool
/// starts sessions and drives a paced second against a gateway process, and the in-process measurements print their
/// result lines. The figures themselves belong to bench/run.sh; here only their shape and sanity are checked.
/// </summary>
[TestCategory("SlowBVT")]
public sealed class BenchSmokeTests : IDisposable
{
    private readonly TempDirectory _work = new("bench-smoke");

    public void Dispose() => _work.Dispose();

    [Fact]
    public async Task The_baseline_parses_and_echoes_an_event()
    {
        var address = new Uri($"http://127.0.0.1:{FreePort.Next()}");
        await using var baseline = ServiceProcess.Start(RepoPaths.BenchBaselineDll, ["--urls", address.ToString().TrimEnd('/')]);
        using var http = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromSeconds(5) };

        // It serves POST only: retry until Kestrel listens.
        var deadline = DateTime.UtcNow.AddSeconds(60);
        JsonElement echoed;
        while (true)
        {
            try
            {
                using var response = await http.PostAsJsonAsync("/session/event", new { session_id = "s", type = "click", data = new { x = 1 } });
                echoed = await response.Content.ReadFromJsonAsync<JsonElement>();
                break;
            }
            catch (HttpRequestException) when (DateTime.UtcNow < deadline && !baseline.HasExited)
            {
                await Task.Delay(200);
            }
        }

        Assert.Equal("click", echoed.GetProperty("type").GetString());
        Assert.Equal(1, echoed.GetProperty("data").GetProperty("x").GetInt32());
    }

    [Fact]
    public async Task The_load_tool_starts_sessions_and_paces_requests_against_a_gateway()
    {
        var (gateway, address) = ServiceProcess.StartGateway(_work.File("gateway"));
        await using (gateway)
        {
            await gateway.WaitUntilReadyAsync(new Uri(address, "/readyz"), TimeSpan.FromSeconds(90));
            var ids = _work.File("ids");

            var started = await RunToolAsync("start-sessions", address.ToString(), "4", ids);
            var paced = await RunToolAsync("paced", address.ToString(), ids, "50", "1");

            Assert.Equal(4, started.GetProperty("sessions").GetInt32());
            Assert.Equal(4, File.ReadAllLines(ids).Distinct().Count());
            Assert.Equal(0, paced.GetProperty("failures").GetInt32());
            Assert.True(paced.GetProperty("achieved_rps").GetDouble() > 0);
            Assert.True(paced.GetProperty("p99_ms").GetDouble() >= paced.GetProperty("p50_ms").GetDouble());
        }
    }

    [Fact]
    public async Task The_in_process_measurements_report_memory_per_session_and_append_cost()
    {
        var memory = await RunToolAsync("memory", "200");
        var append = await RunToolAsync("append-cost", "2000", "20");

        Assert.Equal(200, memory.GetProperty("sessions").GetInt32());
        Assert.True(memory.GetProperty("bytes_per_session").GetDouble() > 0);
        Assert.Equal(2000, append.GetProperty("seeded_events").GetInt64());
        Assert.Equal(20, append.GetProperty("appends").GetInt32());
    }

    /// <summary>Runs <c>bench/Tools</c> with <paramref name="args"/> and returns the object of its <c>JSON</c> line.</summary>
    private static async Task<JsonElement> RunToolAsync(params string[] args)
    {
        await using var tool = ServiceProcess.Start(RepoPaths.BenchToolsDll, args);
        var exitCode = await tool.WaitForExitAsync(TimeSpan.FromSeconds(120));
        var output = tool.Output;
        Assert.True(exitCode == 0, $"bench tool {string.Join(' ', args)} exited with {exitCode}:\n{output}");
        var line = output.Split('\n').Select(l => l.Trim()).LastOrDefault(l => l.StartsWith("JSON ", StringComparison.Ordinal));
        Assert.True(line is not null, $"bench tool {string.Join(' ', args)} printed no JSON line:\n{output}");
        return JsonDocument.Parse(line[5..]).RootElement.Clone();
    }
}
