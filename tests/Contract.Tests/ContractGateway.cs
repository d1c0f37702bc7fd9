using System.Diagnostics;
using SessionTracking.TestSupport;

namespace SessionTracking.Contract.Tests;

/// <summary>
/// A real gateway process (co-hosted silo, SQLite in a temp directory) with an operator key, a configured experiment
/// split and small limits, so that every kind of answer can be provoked; and the OpenAPI document it serves.
/// </summary>
public sealed class ContractGateway : IAsyncLifetime
{
    public const string OperatorKey = "contract-operator-key";

    private readonly string _data = RepoPaths.NewTempDirectory("contract-tests");
    private ServiceProcess? _process;

    public Uri BaseAddress { get; private set; } = null!;

    public HttpClient Client { get; private set; } = null!;

    /// <summary>The document as served at /openapi/v1.json.</summary>
    public string DocumentJson { get; private set; } = "";

    public OpenApiContract Contract { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        (_process, BaseAddress) = ServiceProcess.StartGateway(_data, new Dictionary<string, string?>
        {
            ["Security__OperatorApiKey"] = OperatorKey,
            ["Analytics__Experiments__split_test__Split__a"] = "1",
            ["Analytics__Experiments__split_test__Split__b"] = "1",
            ["Gateway__MaxBodyBytes"] = "65536",
            ["Gateway__MaxEventsPerBatch"] = "20",
            ["Gateway__MaxEventDataBytes"] = "2048",
            ["Query__OfflineTokenDelayMs"] = "0",
        });
        await _process.WaitUntilReadyAsync(new Uri(BaseAddress, "/readyz"), TimeSpan.FromSeconds(90));
        Client = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(60) };
        DocumentJson = await Client.GetStringAsync("/openapi/v1.json");
        Contract = OpenApiContract.Parse(DocumentJson);
    }

    public async Task DisposeAsync()
    {
        Client?.Dispose();
        if (_process is not null)
        {
            await _process.DisposeAsync();
        }

        try
        {
            Directory.Delete(_data, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

[CollectionDefinition(Name)]
public sealed class ContractCollection : ICollectionFixture<ContractGateway>
{
    public const string Name = "contract gateway";
}

/// <summary>Runs the npm tools of clients/typescript (installed by ./test.sh with npm ci).</summary>
public static class NodeTools
{
    public static string ClientDirectory { get; } = Path.Combine(RepoPaths.Root, "clients", "typescript");

    public static async Task<(int ExitCode, string Output)> RunAsync(string tool, string workingDirectory, params string[] args)
    {
        var executable = Path.Combine(workingDirectory, "node_modules", ".bin", tool);
        if (!File.Exists(executable))
        {
            throw new InvalidOperationException($"{executable} is missing: run 'npm ci' in {workingDirectory} (./test.sh does).");
        }

        return await RunProcessAsync(executable, workingDirectory, args);
    }

    public static async Task<(int ExitCode, string Output)> RunProcessAsync(string fileName, string workingDirectory, params string[] args)
    {
        var info = new ProcessStartInfo(fileName) { WorkingDirectory = workingDirectory, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        info.Environment["NO_COLOR"] = "1";
        info.Environment["REDOCLY_TELEMETRY"] = "off";
        info.Environment["REDOCLY_SUPPRESS_UPDATE_NOTICE"] = "true";
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(4));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await stdout + await stderr);
    }
}
