using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;
using SessionTracking.Gateway.Http;

namespace SessionTracking.Gateway.Security;

/// <summary>Endpoints that read other people's data require the operator key, when one is configured.</summary>
public static class OperatorAccess
{
    public static TBuilder RequireOperatorKey<TBuilder>(this TBuilder builder)
        where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(OperatorKeyRequired.Instance).AddEndpointFilter(static async (context, next) =>
        {
            var options = context.HttpContext.RequestServices.GetRequiredService<IOptions<SecurityOptions>>().Value;
            if (!options.HasOperatorKey || IsAuthorized(context.HttpContext.Request, options.OperatorApiKey!))
            {
                return await next(context);
            }

            context.HttpContext.Response.Headers.WWWAuthenticate = "Bearer";
            return Problems.Create(StatusCodes.Status401Unauthorized, "Operator key required", "This endpoint needs the operator API key in X-Api-Key or Authorization: Bearer.");
        });

    private static bool IsAuthorized(HttpRequest request, string key)
    {
        var presented = request.Headers["X-Api-Key"].ToString();
        if (presented.Length == 0)
        {
            var authorization = request.Headers.Authorization.ToString();
            if (authorization.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
            {
                presented = authorization["Bearer ".Length..].Trim();
            }
        }

        // Constant-time comparison of fixed-length digests: the answer time reveals neither how much of the key
        // matched nor its length.
        return presented.Length > 0 && CryptographicOperations.FixedTimeEquals(
            SHA256.HashData(Encoding.UTF8.GetBytes(presented)),
            SHA256.HashData(Encoding.UTF8.GetBytes(key)));
    }
}
