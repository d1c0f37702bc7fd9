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
