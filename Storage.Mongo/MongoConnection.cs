using MongoDB.Bson;
using MongoDB.Driver;
using MongoDB.Driver.Core.Configuration;

namespace SessionTracking.Storage.Mongo;

/// <summary>
/// Client settings, concerns and transaction options built from <see cref="MongoStoreOptions"/> (one place, so the
/// session store, the analytics store, the backfill and the deletion all write with the configured concerns), and the
/// start-up checks of the deployment. Pure functions of the options and of the server's <c>hello</c>: tested without a server.
/// </summary>
internal static class MongoConnection
{
    public static string ConnectionString(MongoStoreOptions options) =>
        options.ConnectionString ?? Environment.GetEnvironmentVariable("MONGODB_URI")
        ?? throw new InvalidOperationException("Storage:Mongo:ConnectionString or MONGODB_URI is required for the MongoDB store.");

    /// <summary>
    /// The driver's settings: the connection string's, with the caller's cluster hooks (command monitoring in tests).
    /// (Driver 3.14 keeps its client-side operation timeout, <c>timeoutMS</c>, internal: the stores bound each call
    /// with a cancellation instead, <see cref="MongoErrors.Guard"/>.)
    /// </summary>
    public static MongoClientSettings ClientSettings(MongoStoreOptions options, Action<ClusterBuilder>? configureCluster = null)
    {
        var settings = MongoClientSettings.FromUrl(MongoUrl.Create(ConnectionString(options)));
        if (configureCluster is not null)
        {
            settings.ClusterConfigurator = configureCluster;
        }

        return settings;
    }

    /// <summary>The configured write concern (default majority + journal), with <c>wtimeout</c> = the operation timeout.</summary>
    public static WriteConcern WriteConcern(MongoStoreOptions options) =>
        new(MongoDB.Driver.WriteConcern.WValue.Parse(options.WriteConcern), wTimeout: options.OperationTimeout, journal: options.Journal);

    public static ReadConcern ReadConcern(MongoStoreOptions options) =>
        options.ReadConcern == "snapshot" ? MongoDB.Driver.ReadConcern.Snapshot : MongoDB.Driver.ReadConcern.Majority;

    /// <summary>
    /// Every transaction's options, explicit: without them the driver takes the connection string's or the server's
    /// default write concern, which may be w:1, and an acknowledged flush could roll back at a failover.
    /// </summary>
    public static TransactionOptions Transaction(MongoStoreOptions options, ReadConcern? readConcern = null) =>
        new(
            readConcern: readConcern ?? ReadConcern(options),
            readPreference: ReadPreference.Primary,
            writeConcern: WriteConcern(options),
            maxCommitTime: options.OperationTimeout);

    /// <summary>Why the connection string cannot be used, or null: reads must see the writes of the flush before them.</summary>
    public static string? RefuseConnectionString(string connectionString)
    {
        var url = MongoUrl.Create(connectionString);
        return url.ReadPreference is { ReadPreferenceMode: not ReadPreferenceMode.Primary } preference
            ? $"The MongoDB connection string (Storage:Mongo:ConnectionString / MONGODB_URI) sets readPreference={preference.ReadPreferenceMode}; the session store needs readPreference=primary (a grain reloads what it just wrote, and transactions read from the primary)."
            : null;
    }

    /// <summary>
    /// Why the deployment behind a <c>hello</c> reply cannot serve the options, or null. Transactions need a replica set
    /// (<c>setName</c>) or a sharded cluster (<c>msg: "isdbgrid"</c>); a standalone server answers neither.
    /// </summary>
    public static string? RefuseDeployment(BsonDocument hello, bool useTransactions)
    {
        var replicaSet = hello.Contains("setName");
        var sharded = hello.TryGetValue("msg", out var msg) && msg.IsString && msg.AsString == "isdbgrid";
        return useTransactions && !replicaSet && !sharded
            ? "The MongoDB server is a standalone server, which cannot run transactions, but Storage:Mongo:UseTransactions is true. Use a replica set (a single-node one is enough) or a sharded cluster, or set Storage:Mongo:UseTransactions=false to write each flush's steps in order without atomicity."
            : null;
    }
}
