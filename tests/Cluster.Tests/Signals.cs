using System.Diagnostics;
using System.Globalization;
using SessionTracking.TestSupport;

namespace SessionTracking.Cluster.Tests;

/// <summary>SIGSTOP / SIGCONT: a process that is alive (its sockets accept connections) but runs no code, like a hung VM.</summary>
internal static class Signals
{
    public static void Stop(ServiceProcess process) => Send(process, "-STOP");

    public static void Continue(ServiceProcess process)
    {
        if (!process.HasExited)
        {
            Send(process, "-CONT");
        }
    }

    private static void Send(ServiceProcess process, string signal)
    {
        using var kill = Process.Start("kill", [signal, process.Id.ToString(CultureInfo.InvariantCulture)]);
        kill.WaitForExit();
    }
}
