using System.Net;
using Microsoft.AspNetCore.Authentication;

namespace SessionTracking.Gateway.Security;

/// <summary>
/// Cookies of the operator sign-in are Secure everywhere except plain HTTP on loopback (a browser on the gateway's own
/// machine, <c>http://localhost:8000</c>). A gateway behind a TLS-terminating proxy sees HTTP from the proxy's
/// address: its cookies are Secure, as the browser, talking HTTPS to the proxy, needs.
/// </summary>
internal sealed class OperatorCookieBuilder : RequestPathBaseCookieBuilder
{
    public override CookieOptions Build(HttpContext context, DateTimeOffset expiresFrom)
    {
        var options = base.Build(context, expiresFrom);
        options.Secure = !IsLoopbackHttp(context);
        return options;
    }

    public static bool IsLoopbackHttp(HttpContext context)
    {
        if (context.Request.IsHttps || context.Connection.RemoteIpAddress is not { } remote || !IPAddress.IsLoopback(remote))
        {
            return false;
        }

        var host = context.Request.Host.Host;
        return host.Equals("localhost", StringComparison.OrdinalIgnoreCase)
            || (IPAddress.TryParse(host.Trim('[', ']'), out var address) && IPAddress.IsLoopback(address));
    }
}
