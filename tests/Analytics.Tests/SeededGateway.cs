namespace SessionTracking.Analytics.Tests;

/// <summary>
/// One gateway over the fixed <see cref="Dataset"/>, shared by the read-only API tests. A first gateway creates the
/// schema; the dataset is then written as a database from before the read model, and the gateway the tests use builds
/// the read model from its events when it starts (the start-up migration).
/// </summary>
public sealed class SeededGateway : IAsyncLifetime
{
    private static readonly Dictionary<string, string> Split = new()
    {
        ["Analytics:Experiments:exp-a:Split:control"] = "1",
        ["Analytics:Experiments:exp-a:Split:treatment"] = "1",
        ["Analytics:Experiments:exp-a:Guardrails:slow:Metric"] = "latency_p95",
        ["Analytics:Experiments:exp-a:Guardrails:slow:Threshold"] = "0.2",
    };

    public GatewayHost Factory { get; } = new() { Settings = Split };

    public HttpClient Client { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        await using (var schema = new GatewayHost(Factory.DataDirectory) { Settings = Split })
        {
            schema.CreateClient().Dispose(); // the silo creates the schema before it takes calls
        }

        Dataset.Seed(Factory.DatabasePath);
        Client = Factory.CreateClient();
    }

    public async Task DisposeAsync()
    {
        Client.Dispose();
        await Factory.DisposeAsync();
    }
}
