using System.Buffers.Text;
using System.Security.Cryptography;

namespace SessionTracking.Gateway.Sessions;

/// <summary>
/// Session ids are the write credential: 144 bits from the OS CSPRNG, base64url (24 characters).
/// Anything not shaped like an id is answered 404 without touching a grain.
/// </summary>
internal static class SessionIds
{
    private const int RandomBytes = 18;
    public const int Length = 24;

    public static string NewId() => Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(RandomBytes));

    public static bool IsWellFormed(string? id)
    {
        if (id is null || id.Length != Length)
        {
            return false;
        }

        foreach (var c in id)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '-' or '_'))
            {
                return false;
            }
        }

        return true;
    }
}
