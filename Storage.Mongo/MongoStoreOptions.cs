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

    /// <summary>Events per bucket document. 500 events of a few hundred bytes stay far below MongoDB's 16 MB limit.</summary>
    [Range(1, 10_000)]
    public int BucketSize { get; set; } = 500;

    /// <summary>Write concern: <c>majority</c> (default) or a number of nodes (<c>1</c>, <c>2</c>, …).</summary>
    [Required]
    public string WriteConcern { get; set; } = "majority";

    /// <summary>Wait for the journal before acknowledging (default true).</summary>
    public bool Journal { get; set; } = true;

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
