using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.Options;
using SessionTracking.TestSupport;

namespace SessionTracking.Analytics.Tests;

/// <summary>
/// Custom metric definitions at the gateway's start-up (docs/custom-metrics.md, "Configuration and start-up"): a bad
/// definition stops it with an error naming the setting; a plan names an unknown metric as the bad parameter and takes a
/// custom one.
/// </summary>
[TestCategory("BVT")]
public sealed class CustomMetricStartupTests
{
    [Theory]
    [InlineData("nope:Kind=median;nope:EventType=task_completed", "Analytics:Metrics:nope:Kind must be one of proportion, count, sum, mean, ratio, quantile, retention, funnel, not 'median'")]
    [InlineData("done:Kind=count;done:EventType=task_completed;per_done:Kind=ratio;per_done:Numerator=done", "Analytics:Metrics:per_done:Denominator is required for a ratio metric")]
    [InlineData("up_rate:Kind=proportion;up_rate:EventType=feedback", "Analytics:Metrics:up_rate collides with the built-in metric 'up_rate'")]
    public async Task A_bad_definition_stops_start_up_with_an_error_naming_its_setting(string metrics, string message)
    {
        await using var factory = new GatewayHost
        {
            Settings = metrics.Split(';').Select(s => s.Split('=')).ToDictionary(kv => "Analytics:Metrics:" + kv[0], kv => kv[1]),
        };

        var error = Assert.ThrowsAny<OptionsValidationException>(() => factory.CreateClient());
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_plan_refuses_an_unknown_metric_naming_the_parameter_and_takes_a_custom_one()
    {
        await using var factory = new GatewayHost
        {
            Settings = new Dictionary<string, string>
            {
                ["Analytics:Metrics:task_completion:Kind"] = "proportion",
                ["Analytics:Metrics:task_completion:EventType"] = "task_completed",
            },
        };
        using var client = factory.CreateClient();

        using (var unknown = await client.GetAsync("/analytics/plan?metric=nope&mde=0.1&baseline_rate=0.2"))
        {
            Assert.Equal(HttpStatusCode.BadRequest, unknown.StatusCode);
            Assert.Equal("application/problem+json", unknown.Content.Headers.ContentType?.MediaType);
            var problem = await unknown.Content.ReadFromJsonAsync<JsonElement>();
            Assert.Contains("'metric'", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
            Assert.Contains("task_completion", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        }

        using var custom = await client.GetAsync("/analytics/plan?metric=task_completion&mde=0.1&baseline_rate=0.2");
        Assert.Equal(HttpStatusCode.OK, custom.StatusCode);
        var plan = await custom.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("task_completion", plan.GetProperty("metric").GetString());
        Assert.True(plan.GetProperty("units_per_group").GetInt64() > 0);
    }
}
