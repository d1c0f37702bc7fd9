namespace SessionTracking.Gateway.Tests;

/// <summary>
/// One gateway shared by the tests of the <see cref="GatewayCollection"/>, with limits small enough that the limit
/// tests send small bodies.
/// </summary>
public sealed class SmallLimitsGateway : GatewayHost
{
    public SmallLimitsGateway()
    {
        Settings = new Dictionary<string, string>
        {
            ["Gateway:MaxBodyBytes"] = "65536",
            ["Gateway:MaxEventsPerBatch"] = "50",
            ["Gateway:MaxEventDataBytes"] = "4096",
        };
    }
}

[CollectionDefinition(Name)]
public sealed class GatewayCollection : ICollectionFixture<SmallLimitsGateway>
{
    public const string Name = "gateway";
}
