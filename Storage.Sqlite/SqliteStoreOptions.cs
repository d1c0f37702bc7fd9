using System.ComponentModel.DataAnnotations;

namespace SessionTracking.Storage.Sqlite;

/// <summary>Options of the SQLite adapter, section <c>Storage:Sqlite</c>.</summary>
public sealed class SqliteStoreOptions
{
    public const string SectionName = "Storage:Sqlite";

    /// <summary>Database file; relative paths resolve against the content root. Default <c>data/sessions.db</c>.</summary>
    [Required]
    public string DatabasePath { get; set; } = Path.Combine("data", "sessions.db");

    /// <summary>
    /// SQLite <c>PRAGMA synchronous</c>: <c>FULL</c> (default) survives power loss; <c>NORMAL</c> survives a process
    /// crash (kill -9) but may lose the last commits on power loss.
    /// </summary>
    [RegularExpression("^(FULL|NORMAL)$")]
    public string Synchronous { get; set; } = "FULL";

    /// <summary>
    /// How often a background PASSIVE checkpoint copies the WAL into the database file (default 250 ms). Zero leaves
    /// checkpoints to SQLite's auto-checkpoint, which runs inside the committing write. After each tick the writer copies
    /// what was appended while it ran, and commits wait meanwhile: the longer the interval, the more a tick copies and
    /// the longer that wait (docs/benchmark.md, "Checkpoints and the tail": p99 of acked single events 14–43 ms every
    /// 1 s, 4.3–5.1 ms every 250 ms).
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "01:00:00")]
    public TimeSpan CheckpointInterval { get; set; } = TimeSpan.FromMilliseconds(250);
}
