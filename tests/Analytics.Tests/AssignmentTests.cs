using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using SessionTracking.TestSupport;

namespace SessionTracking.Analytics.Tests;

[TestCategory("BVT")]
public sealed class AssignmentTests
{
    [Fact]
    public void Assignment_follows_the_split_and_is_sticky()
    {
        var experiment = new ExperimentOptions { Split = { ["big"] = 3, ["small"] = 1 } };
        var counts = new Dictionary<string, long> { ["big"] = 0, ["small"] = 0 };
        for (var i = 0; i < 8000; i++)
        {
            var group = ExperimentAssignment.Assign(experiment, "exp", $"user-{i}");
            Assert.Equal(group, ExperimentAssignment.Assign(experiment, "exp", $"user-{i}"));
            counts[group]++;
        }

        // The SRM check of the assignment itself: 3:1 must not be rejected.
        var (_, _, p, _) = Statistics.ChiSquareGoodnessOfFit([counts["big"], counts["small"]], [3, 1]);
        Assert.True(p > 0.001, $"big {counts["big"]}, small {counts["small"]}, p {p}");
    }

    [Fact]
    public async Task Start_without_model_group_assigns_sticky_and_records_an_exposure()
    {
        await using var factory = new GatewayHost
        {
            Settings = new Dictionary<string, string>
            {
                ["Analytics:Experiments:sticky:Split:alpha"] = "1",
                ["Analytics:Experiments:sticky:Split:beta"] = "1",
            },
        };
        using var client = factory.CreateClient();

        var first = await StartAsync(client, """{"user_id":"sticky-user","experiment_id":"sticky"}""");
        var second = await StartAsync(client, """{"user_id":"sticky-user","experiment_id":"sticky"}""");
        var group = first.GetProperty("model_group").GetString();
        Assert.Contains(group, new[] { "alpha", "beta" });
        Assert.Equal(group, second.GetProperty("model_group").GetString());

        var assignment = await client.GetFromJsonAsync<JsonElement>("/experiments/sticky/assignment?user_id=sticky-user");
        Assert.Equal(group, assignment.GetProperty("model_group").GetString());

        var document = await client.GetFromJsonAsync<JsonElement>($"/session/{first.GetProperty("session_id").GetString()}");
        var exposure = Assert.Single(document.GetProperty("events").EnumerateArray());
        Assert.Equal("exposure", exposure.GetProperty("type").GetString());
        Assert.Equal(group, exposure.GetProperty("data").GetProperty("model_group").GetString());

        // No split configured and no model_group: still the 400 it always was.
        using var missing = await client.PostAsync("/session/start", new StringContent("""{"user_id":"u","experiment_id":"other"}""", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, missing.StatusCode);
        using var unknown = await client.GetAsync("/experiments/other/assignment?user_id=u");
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
    }

    private static async Task<JsonElement> StartAsync(HttpClient client, string json)
    {
        using var response = await client.PostAsync("/session/start", new StringContent(json, Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return await response.Content.ReadFromJsonAsync<JsonElement>();
    }
}
