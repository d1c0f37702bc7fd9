using System.Net;

namespace SessionTracking.Gateway.Security;

/// <summary>
/// Chooses the addresses Kestrel listens on: http://localhost:8000 unless --urls, ASPNETCORE_URLS or
/// ASPNETCORE_HTTP_PORTS say otherwise; and, while neither an operator key nor an OpenID Connect provider protects the
/// operator endpoints, loopback only.
/// </summary>
internal static class ListenAddresses
{
    public const string DefaultUrl = "http://localhost:8000";

    /// <summary>Applies the rules to the builder and returns a sentence to log at start-up.</summary>
    public static string Configure(WebApplicationBuilder builder)
    {
        var configuration = builder.Configuration;
        var urls = configuration["urls"];
        var ports = configuration["http_ports"];
        var hasKey = !string.IsNullOrEmpty(configuration[$"{SecurityOptions.SectionName}:{nameof(SecurityOptions.OperatorApiKey)}"]);
        var hasProvider = !string.IsNullOrWhiteSpace(configuration[$"{OperatorOpenIdConnectOptions.SectionName}:{nameof(OperatorOpenIdConnectOptions.Authority)}"]);
        if (string.IsNullOrEmpty(urls))
        {
            urls = string.IsNullOrEmpty(ports)
                ? DefaultUrl
                : string.Join(';', ports.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(p => $"http://*:{p}"));
        }

        if (hasKey || hasProvider)
        {
            builder.WebHost.UseUrls(urls);
            return $"Operator access configured ({(hasKey ? "key" : "")}{(hasKey && hasProvider ? " and " : "")}{(hasProvider ? "OpenID Connect" : "")}): listening on {urls}.";
        }

        var loopback = string.Join(';', urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(ToLoopback));
        builder.WebHost.UseUrls(loopback);
        return loopback == urls
            ? $"No operator API key (Security:OperatorApiKey) or OpenID Connect provider configured: listening on loopback only ({loopback})."
            : $"No operator API key (Security:OperatorApiKey) or OpenID Connect provider configured: listening on loopback only ({loopback}) instead of {urls}. Set one to listen on other addresses.";
    }

    internal static string ToLoopback(string url)
    {
        var schemeEnd = url.IndexOf("://", StringComparison.Ordinal);
        if (schemeEnd < 0)
        {
            return url;
        }

        var hostStart = schemeEnd + 3;
        var pathStart = url.IndexOf('/', hostStart);
        var authority = url[hostStart..(pathStart < 0 ? url.Length : pathStart)];
        var hostLength = authority.StartsWith('[')
            ? authority.IndexOf(']') + 1
            : authority.LastIndexOf(':') is var colon and >= 0 ? colon : authority.Length;
        var host = authority[..hostLength];
        return IsLoopback(host) ? url : string.Concat(url.AsSpan(0, hostStart), "localhost", url.AsSpan(hostStart + hostLength));
    }

    private static bool IsLoopback(string host) =>
        host.Equals("localhost", StringComparison.OrdinalIgnoreCase)
        || (IPAddress.TryParse(host.Trim('[', ']'), out var address) && IPAddress.IsLoopback(address));
}
