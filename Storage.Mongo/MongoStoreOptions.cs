using System.ComponentModel.DataAnnotations;

namespace SessionTracking.Storage.Mongo;

/// <summary>Options of the MongoDB adapter, section <c>Storage:Mongo</c> (or just the <c>MONGODB_URI</c> variable).</summary>
public sealed class MongoStoreOptions
{
    public const string SectionName = "Storage:Mongo";

    /// <summary>Connection string; <c>MONGODB_URI</c> is used when this is empty.</summary>
    public string? ConnectionString { get; set; }

    [Required]
    public string Database { get; set; } = "session_tracking";

    /// <summary>
    /// Most events per bucket document. Recorded at first start (<c>store_metadata</c>); a later start with another value
    /// keeps working, since the bound is only a condition of each append (<see cref="EventBuckets"/>).
    /// </summary>
    [Range(1, 10_000)]
    public int BucketSize { get; set; } = 500;

    /// <summary>
    /// Most bytes of event BSON per bucket document (default 8 MiB): half of MongoDB's 16 MiB document limit, so a
    /// bucket can never reach it whatever its events hold (500 events of 64 KiB would be 32 MiB).
    /// </summary>
    [Range(64 * 1024, 12 * 1024 * 1024)]
    public int MaxBucketBytes { get; set; } = 8 * 1024 * 1024;

    /// <summary>Write concern: <c>majority</c> (default) or a number of nodes (<c>1</c>, <c>2</c>, …).</summary>
    [Required]
    public string WriteConcern { get; set; } = "majority";

    /// <summary>Wait for the journal before acknowledging (default true).</summary>
    public bool Journal { get; set; } = true;

    /// <summary>
    /// Read concern of transactions: <c>majority</c> (default) or <c>snapshot</c>. Reads outside transactions are majority
    /// reads; a user's deletion always reads a snapshot.
    /// </summary>
    [RegularExpression("^(majority|snapshot)$")]
    public string ReadConcern { get; set; } = "majority";

    /// <summary>
    /// Client-side limit of every call of the session store (a cancellation the driver honours end to end), the
    /// <c>wtimeout</c> of the write concern and a transaction's <c>maxCommitTimeMS</c> (default 10 s): without a
    /// reachable majority a write fails (503) instead of blocking.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:10:00")]
    public TimeSpan OperationTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Limit of one analytics call (a report, a list, one cursor batch of an export; default 2 min).</summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan AnalyticsTimeout { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>Time readiness gives its majority write (default 2 s): not ready while no majority acknowledges one.</summary>
    [Range(typeof(TimeSpan), "00:00:00.050", "00:01:00")]
    public TimeSpan HealthTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// Write each flush (events, legacy rows, end) in one multi-document transaction. Needs a replica set or sharded
    /// cluster (default true); set false for a standalone server, where the writes of one flush are then ordered but
    /// not atomic.
    /// </summary>
    public bool UseTransactions { get; set; } = true;

    /// <summary>
    /// Documents each experiment aggregate is split into (by a hash of the session or user id), so that concurrent
    /// flushes of one hour rarely write the same document; a report reads and sums them all. Can be changed at any time.
    /// </summary>
    [Range(1, 1024)]
    public int AggregateShards { get; set; } = 16;
}
