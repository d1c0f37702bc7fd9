using System.Diagnostics;
using System.Globalization;

namespace SessionTracking.Cluster.Tests;

/// <summary>
/// Whether a process holds SQLite's WAL write lock (byte 120 of the -shm file, a POSIX lock listed in /proc/locks).
/// The silos of these tests share one SQLite file: a silo frozen while it holds that lock would stop every other
/// silo's writes until it wakes — a property of one file shared between processes, not of the cluster (MongoDB, the
/// clustered store, has no such lock). Tests that freeze a silo freeze it outside that window.
/// </summary>
internal static class SqliteWriteLock
{
    private const long WalWriteLockOffset = 120;

    public static bool IsHeldBy(int pid, string databasePath)
    {
        var shm = databasePath + "-shm";
        if (!File.Exists(shm))
        {
            return false;
        }

        var inode = Inode(shm);
        foreach (var line in File.ReadLines("/proc/locks"))
        {
            // "1: POSIX  ADVISORY  WRITE 2411 00:2d:1234 120 120"
            var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length >= 8 && fields[1] == "POSIX" && fields[3] == "WRITE"
                && fields[4] == pid.ToString(CultureInfo.InvariantCulture)
                && fields[5].EndsWith(":" + inode, StringComparison.Ordinal)
                && long.Parse(fields[6], CultureInfo.InvariantCulture) <= WalWriteLockOffset
                && (fields[7] == "EOF" || long.Parse(fields[7], CultureInfo.InvariantCulture) >= WalWriteLockOffset))
            {
                return true;
            }
        }

        return false;
    }

    private static string Inode(string path)
    {
        using var stat = Process.Start(new ProcessStartInfo("stat", ["-c", "%i", path]) { RedirectStandardOutput = true })!;
        var inode = stat.StandardOutput.ReadToEnd().Trim();
        stat.WaitForExit();
        return inode;
    }
}
