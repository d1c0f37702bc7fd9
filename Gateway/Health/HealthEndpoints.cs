using Microsoft.AspNetCore.Http.HttpResults;
using SessionTracking.Gateway.Http;

namespace SessionTracking.Gateway.Health;

/// <summary>/healthz: the process answers. /readyz: a silo answers and its store reads and accepts writes.</summary>
public static class HealthEndpoints
{
    private static readonly TimeSpan ReadinessTimeout = TimeSpan.FromSeconds(3);

    public static IEndpointRouteBuilder MapHealthEndpoints(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("").WithTags("Health");
        group.MapGet("/healthz", () => TypedResults.Ok(new HealthResponse("ok"))).WithName("Health").WithSummary("Liveness")
            .WithDescription("200 while the process runs.");
        group.MapGet("/readyz", ReadyAsync).WithName("Ready").WithSummary("Readiness")
            .WithDescription("200 when a silo answers and its store reads and accepts writes; 503 with Retry-After otherwise.")
            .Produces<HealthResponse>(StatusCodes.Status503ServiceUnavailable);
        return app;
    }

    internal static async Task<Results<Ok<HealthResponse>, JsonHttpResult<HealthResponse>>> ReadyAsync(IGrainFactory grains, HttpResponse response)
    {
        string detail;
        try
        {
            if (await grains.GetGrain<IStoreHealthGrain>(0).IsStoreHealthyAsync().AsTask().WaitAsync(ReadinessTimeout))
            {
                return TypedResults.Ok(new HealthResponse("ready"));
            }

            detail = "The session store does not answer or refuses writes.";
        }
        catch (Exception ex) when (ex is TimeoutException or OrleansException or InvalidOperationException)
        {
            detail = "No silo answers.";
        }

        response.Headers.RetryAfter = "5";
        return TypedResults.Json(new HealthResponse("unavailable", detail), WireJsonContext.Default.HealthResponse, statusCode: StatusCodes.Status503ServiceUnavailable);
    }
}
