namespace SessionTracking.Analytics.Tests;

/// <summary>One gateway over the fixed <see cref="Dataset"/>, shared by the read-only API tests.</summary>
public sealed class SeededGateway : IAsyncLifetime
{
    public GatewayHost Factory { get; } = new()
    {
        Settings = new Dictionary<string, string>
        {
            ["Analytics:Experiments:exp-a:Split:control"] = "1",
            ["Analytics:Experiments:exp-a:Split:treatment"] = "1",
        },
    };

    public HttpClient Client { get; private set; } = null!;

    public Task InitializeAsync()
    {
        Client = Factory.CreateClient(); // starts the host; the silo creates the schema before it takes calls
        Dataset.Seed(Factory.DatabasePath);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        Client.Dispose();
        await Factory.DisposeAsync();
    }
}
