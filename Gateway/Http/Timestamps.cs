using System.Globalization;

namespace SessionTracking.Gateway.Http;

/// <summary>Times on the wire are ISO 8601 UTC with milliseconds, as in the guide ("2024-10-27T10:00:00.000Z").</summary>
internal static class Timestamps
{
    public static string Format(DateTimeOffset time) =>
        time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);

    public static string? Format(DateTimeOffset? time) => time is { } t ? Format(t) : null;
}
