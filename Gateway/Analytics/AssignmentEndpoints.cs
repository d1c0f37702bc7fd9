using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using SessionTracking.Analytics;
using SessionTracking.Gateway.Http;

namespace SessionTracking.Gateway.Analytics;

/// <summary>
/// Server-side sticky assignment for experiments with a configured split (<c>Analytics:Experiments:&lt;id&gt;:Split</c>).
/// Public: the client asks which group to use. <c>POST /session/start</c> without model_group assigns the same way
/// and records an <c>exposure</c> event.
/// </summary>
internal static class AssignmentEndpoints
{
    public static IEndpointRouteBuilder MapAssignmentEndpoints(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGet("/experiments/{experimentId}/assignment", GetAssignment).WithTags("Experiments").WithName("GetAssignment")
            .WithSummary("Which model group a user gets")
            .WithDescription("Sticky assignment for experiments with a configured split; the same as POST /session/start assigns without model_group.")
            .ProducesProblem(StatusCodes.Status400BadRequest).ProducesProblem(StatusCodes.Status404NotFound);
        return endpoints;
    }

    private static Results<Ok<AssignmentResponse>, ProblemHttpResult> GetAssignment(string experimentId, string? user_id, IOptions<AnalyticsOptions> options, WireLimits limits)
    {
        if (string.IsNullOrWhiteSpace(user_id) || user_id.Length > limits.MaxFieldLength)
        {
            return Problems.BadRequest($"'user_id' is required (1 to {limits.MaxFieldLength} characters).");
        }

        if (!options.Value.Experiments.TryGetValue(experimentId, out var experiment) || experiment.Split.Count == 0)
        {
            return Problems.Create(StatusCodes.Status404NotFound, "Experiment not configured", $"No split is configured for experiment '{Problems.Truncate(experimentId)}'.");
        }

        return TypedResults.Ok(new AssignmentResponse(experimentId, user_id, ExperimentAssignment.Assign(experiment, experimentId, user_id), experiment.Split));
    }

    /// <summary>The group for a start request without model_group, or null when the experiment has no configured split.</summary>
    public static string? TryAssign(AnalyticsOptions options, string experimentId, string userId) =>
        options.Experiments.TryGetValue(experimentId, out var experiment) && experiment.Split.Count > 0 ? ExperimentAssignment.Assign(experiment, experimentId, userId) : null;
}

internal sealed record AssignmentResponse(string ExperimentId, string UserId, string ModelGroup, Dictionary<string, double> Split);
