using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;

namespace SessionTracking.Gateway.Security;

/// <summary>The claims of an operator, whichever way they proved it.</summary>
internal static class OperatorPrincipal
{
    public const string RoleClaim = "st:role";
    public const string OperatorRole = "operator";
    public const string MethodClaim = "st:method";
    public const string KeyMethod = "key";
    public const string OpenIdConnectMethod = "oidc";

    /// <summary>A digest of the key a cookie was issued for: changing the key signs out every browser signed in with the old one.</summary>
    public const string KeyDigestClaim = "st:key";

    public const string IssuerClaim = "st:iss";

    /// <summary>A request that presented the key in a header.</summary>
    public static ClaimsPrincipal ForKeyHeader(string authenticationType) =>
        new(new ClaimsIdentity(
            [new Claim(ClaimTypes.Name, "operator key"), new Claim(RoleClaim, OperatorRole), new Claim(MethodClaim, KeyMethod)],
            authenticationType));

    /// <summary>A browser that signed in with the key: the cookie's principal.</summary>
    public static ClaimsPrincipal ForKeySignIn(string key) =>
        new(new ClaimsIdentity(
            [
                new Claim(ClaimTypes.Name, "operator (key)"), new Claim(RoleClaim, OperatorRole), new Claim(MethodClaim, KeyMethod),
                new Claim(KeyDigestClaim, KeyDigest(key)),
            ],
            OperatorAuthentication.CookieScheme));

    /// <summary>A user of the identity provider in an allowed group: only what the pages show and what is checked is kept.</summary>
    public static ClaimsPrincipal ForOpenIdConnect(string name, string issuer) =>
        new(new ClaimsIdentity(
            [new Claim(ClaimTypes.Name, name), new Claim(RoleClaim, OperatorRole), new Claim(MethodClaim, OpenIdConnectMethod), new Claim(IssuerClaim, issuer)],
            OperatorAuthentication.CookieScheme));

    public static bool IsOperator(ClaimsPrincipal user) =>
        user.Identity?.IsAuthenticated == true && user.HasClaim(RoleClaim, OperatorRole);

    /// <summary>Authenticated by the browser's cookie (not by a key header): state changes need proof of origin.</summary>
    public static bool CameFromCookie(ClaimsPrincipal user) =>
        user.Identity?.AuthenticationType == OperatorAuthentication.CookieScheme;

    public static string? Method(ClaimsPrincipal user) => user.FindFirst(MethodClaim)?.Value;

    public static string KeyDigest(string key) =>
        Convert.ToBase64String(SHA256.HashData(Encoding.UTF8.GetBytes("session-tracking operator cookie\n" + key)));

    /// <summary>Constant-time comparison of fixed-length digests: the answer time reveals neither how much of the key matched nor its length.</summary>
    public static bool KeyMatches(string presented, string key) =>
        presented.Length > 0 && CryptographicOperations.FixedTimeEquals(
            SHA256.HashData(Encoding.UTF8.GetBytes(presented)),
            SHA256.HashData(Encoding.UTF8.GetBytes(key)));
}
