using System.Net;
using System.Net.Sockets;

namespace SessionTracking.TestSupport;

/// <summary>
/// Loopback ports nobody listens on, for the servers a test starts. They come from below Linux's ephemeral range
/// (32768–60999): a port the kernel handed out as ephemeral and this class released could be taken meanwhile as the
/// local end of any outgoing connection (a Redis client, an Orleans link), and the server meant for it then failed to
/// bind ("address already in use"). Each process starts at its own random point of the range and never hands a port out
/// twice; a port that does not bind now is skipped.
/// </summary>
public static class FreePort
{
    private const int First = 20000;
    private const int Count = 12000; // up to 31999

    private static int s_next = Random.Shared.Next(Count);

    public static int Next()
    {
        for (var attempt = 0; attempt < Count; attempt++)
        {
            var port = First + (Interlocked.Increment(ref s_next) % Count);
            try
            {
                using var listener = new TcpListener(IPAddress.Loopback, port);
                listener.Start();
                return port;
            }
            catch (SocketException)
            {
                // in use: the next one
            }
        }

        throw new InvalidOperationException($"No free loopback port in {First}–{First + Count - 1}.");
    }
}
