using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using SessionTracking.Gateway.Http;

namespace SessionTracking.Gateway.Sessions;

/// <summary>
/// Session ids are the write credential: 144 bits from the OS CSPRNG, base64url (24 characters).
/// Anything not shaped like an id is answered 404 without touching a grain.
/// </summary>
internal static class SessionIds
{
    private const int RandomBytes = 18;

    public static string NewId() => Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(RandomBytes));

    public static bool IsWellFormed(string? id)
    {
        if (id is null || id.Length != WireLimits.SessionIdLength)
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

    /// <summary>
    /// Reads <c>session_id</c> from a request body: missing (when required) or not a string is a 400; a string not
    /// shaped like an issued id is a 404. An optional, absent id reads as null.
    /// </summary>
    public static bool TryRead(JsonElement root, bool required, out string? sessionId, out ProblemHttpResult? problem)
    {
        problem = null;
        var ok = required
            ? JsonFields.TryGetRequiredString(root, "session_id", int.MaxValue, out var value, out var error)
            : JsonFields.TryGetString(root, "session_id", int.MaxValue, out value, out error);
        sessionId = value;
        if (!ok)
        {
            problem = Problems.BadRequest(error!);
            return false;
        }

        if (sessionId is not null && !IsWellFormed(sessionId))
        {
            problem = Problems.SessionNotFound(sessionId);
            return false;
        }

        return true;
    }
}
