using System.ComponentModel.DataAnnotations;

namespace SessionTracking.Gateway.Security;

/// <summary>The browser sign-in cookie, section <c>Security:SignIn</c>. See docs/reliability.md.</summary>
public sealed class OperatorSignInOptions
{
    public const string SectionName = "Security:SignIn";

    /// <summary>How long a sign-in lasts. Fixed from the sign-in (not sliding): the browser signs in again after it.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "30.00:00:00")]
    public TimeSpan Lifetime { get; set; } = TimeSpan.FromHours(8);

    /// <summary>Sign-in attempts with a key one client (remote address) may make per minute; 429 above.</summary>
    [Range(1, 10_000)]
    public int AttemptsPerMinute { get; set; } = 10;
}
