using Microsoft.AspNetCore.Http.HttpResults;
using SessionTracking.Analytics;
using SessionTracking.Gateway.Http;
using SessionTracking.Gateway.Security;

namespace SessionTracking.Gateway.Analytics;

/// <summary>Privacy requests: delete everything stored about one user_id.</summary>
internal static class PrivacyEndpoints
{
    public static IEndpointRouteBuilder MapPrivacyEndpoints(this IEndpointRouteBuilder endpoints)
    {
        var group = endpoints.MapGroup("/users").RequireOperatorKey().WithTags("Privacy");
        group.MapDelete("/{userId}", DeleteUserAsync).WithName("DeleteUserData").WithSummary("Delete a user's data")
            .WithDescription("Removes the user's sessions, their events, and the user's legacy queries and events rows; answers the counts.")
            .ProducesProblem(StatusCodes.Status400BadRequest);
        return endpoints;
    }

    /// <summary>Removes the user's sessions, their events, and the user's legacy queries and events rows; answers the counts.</summary>
    private static async Task<Results<Ok<Wire.UserDeletion>, ProblemHttpResult>> DeleteUserAsync(string userId, IGrainFactory grains, WireLimits limits)
    {
        if (string.IsNullOrWhiteSpace(userId) || userId.Length > limits.MaxFieldLength)
        {
            return Problems.BadRequest($"'userId' must be 1 to {limits.MaxFieldLength} characters.");
        }

        return TypedResults.Ok(Wire.UserDeletion.From(await grains.GetGrain<IAnalyticsGrain>(0).DeleteUserAsync(userId)));
    }
}
