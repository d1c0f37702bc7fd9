namespace SessionTracking.Grains.Tests.Mongo;

/// <summary>
/// A test against a real MongoDB server (<see cref="MongoServer"/>: MONGODB_URI, else a Testcontainers MongoDB where a
/// Docker daemon runs), skipped with the reason when there is neither.
/// </summary>
public sealed class MongoFactAttribute : FactAttribute
{
    public MongoFactAttribute()
    {
        if (MongoServer.SkipReason is { } reason)
        {
            Skip = reason;
        }
    }
}

/// <summary>A test against a standalone MongoDB server (no replica set), skipped when there is none.</summary>
public sealed class MongoStandaloneFactAttribute : FactAttribute
{
    public MongoStandaloneFactAttribute()
    {
        if (MongoServer.StandaloneSkipReason is { } reason)
        {
            Skip = reason;
        }
    }
}

/// <summary>A test that needs the server's <c>failCommand</c> fail point (<see cref="MongoServer.FailPointSkipReason"/>).</summary>
public sealed class MongoFailPointFactAttribute : FactAttribute
{
    public MongoFailPointFactAttribute()
    {
        if (MongoServer.FailPointSkipReason is { } reason)
        {
            Skip = reason;
        }
    }
}
