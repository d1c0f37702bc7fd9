namespace SessionTracking.Grains.Tests.Mongo;

/// <summary>A test against a real MongoDB server: runs when MONGODB_URI is set, skipped with the reason otherwise.</summary>
public sealed class MongoFactAttribute : FactAttribute
{
    public MongoFactAttribute()
    {
        if (string.IsNullOrEmpty(Environment.GetEnvironmentVariable("MONGODB_URI")))
        {
            Skip = "MONGODB_URI is not set: no MongoDB server can be installed on these machines. Set it (a replica set for transactions) to run the adapter against a real server.";
        }
    }
}
