using Microsoft.Extensions.Options;

namespace SessionTracking.Gateway.Security;

/// <summary>
/// Operator sign-in through an OpenID Connect provider, section <c>Security:OpenIdConnect</c>; off while
/// <see cref="Authority"/> is empty. A user of the provider is an operator when the claim <see cref="GroupClaim"/> holds
/// one of <see cref="AllowedGroups"/>; anyone else is refused (403) and gets no cookie.
/// </summary>
public sealed class OperatorOpenIdConnectOptions
{
    public const string SectionName = "Security:OpenIdConnect";

    /// <summary>The provider's issuer URL (its discovery document is <c>{Authority}/.well-known/openid-configuration</c>).</summary>
    public string? Authority { get; set; }

    public string? ClientId { get; set; }

    public string? ClientSecret { get; set; }

    /// <summary>Scopes asked for besides <c>openid profile</c>, e.g. <c>groups</c> when the provider needs it to send them.</summary>
    public string[] Scopes { get; set; } = [];

    /// <summary>The claim that carries the user's groups or roles (<c>groups</c>, <c>roles</c>, …), from the ID token or userinfo.</summary>
    public string GroupClaim { get; set; } = "groups";

    /// <summary>Values of <see cref="GroupClaim"/> that make a user an operator (any one suffices; compared exactly).</summary>
    public string[] AllowedGroups { get; set; } = [];

    /// <summary>The sign-in page's button: "Sign in with …".</summary>
    public string DisplayName { get; set; } = "single sign-on";

    public bool IsEnabled => !string.IsNullOrWhiteSpace(Authority);

    /// <summary>Plain HTTP is accepted for a provider on loopback only (a test or a local provider); elsewhere HTTPS.</summary>
    public bool AuthorityIsLoopback =>
        Uri.TryCreate(Authority, UriKind.Absolute, out var uri) && uri.IsLoopback;
}

/// <summary>Start-up validation: an enabled provider needs an HTTPS authority, a client and at least one allowed group.</summary>
internal sealed class OperatorOpenIdConnectOptionsValidator : IValidateOptions<OperatorOpenIdConnectOptions>
{
    public ValidateOptionsResult Validate(string? name, OperatorOpenIdConnectOptions options)
    {
        if (!options.IsEnabled)
        {
            return ValidateOptionsResult.Success;
        }

        var failures = new List<string>();
        if (!Uri.TryCreate(options.Authority, UriKind.Absolute, out var authority) || (authority.Scheme != Uri.UriSchemeHttps && !(authority.Scheme == Uri.UriSchemeHttp && authority.IsLoopback)))
        {
            failures.Add($"{OperatorOpenIdConnectOptions.SectionName}:Authority must be an absolute https:// URL (http:// only on loopback); it is '{options.Authority}'.");
        }

        if (string.IsNullOrWhiteSpace(options.ClientId))
        {
            failures.Add($"{OperatorOpenIdConnectOptions.SectionName}:ClientId is required when an Authority is set.");
        }

        if (string.IsNullOrWhiteSpace(options.ClientSecret))
        {
            failures.Add($"{OperatorOpenIdConnectOptions.SectionName}:ClientSecret is required when an Authority is set.");
        }

        if (string.IsNullOrWhiteSpace(options.GroupClaim))
        {
            failures.Add($"{OperatorOpenIdConnectOptions.SectionName}:GroupClaim must name a claim (e.g. groups or roles).");
        }

        if (options.AllowedGroups.Length == 0 || options.AllowedGroups.Any(string.IsNullOrWhiteSpace))
        {
            failures.Add($"{OperatorOpenIdConnectOptions.SectionName}:AllowedGroups must list at least one group or role: without it every user of the provider would be an operator.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
