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

    [Fact]
    public async Task An_experiment_with_settings_but_no_split_takes_the_clients_groups_and_keeps_its_settings()
    {
        // Groups assigned elsewhere (the client sends model_group), the experiment's unit and primary metric configured here.
        await using var factory = new GatewayHost
        {
            Settings = new Dictionary<string, string>
            {
                ["Analytics:Experiments:external:Unit"] = "Session",
                ["Analytics:Experiments:external:PrimaryMetric"] = "prompts_per_session",
                ["Analytics:Experiments:external:Guardrails:errors:Metric"] = "errors_per_session",
                ["Analytics:Experiments:external:Guardrails:errors:Threshold"] = "0.1",
            },
        };
        using var client = factory.CreateClient();

        var started = await StartAsync(client, """{"user_id":"u1","experiment_id":"external","model_group":"mine"}""");
        Assert.Equal("mine", started.GetProperty("model_group").GetString());
        await StartAsync(client, """{"user_id":"u3","experiment_id":"external","model_group":"theirs"}""");
        using var unassigned = await client.PostAsync("/session/start", new StringContent("""{"user_id":"u2","experiment_id":"external"}""", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, unassigned.StatusCode); // nothing to assign from: the client must say
        using var assignment = await client.GetAsync("/experiments/external/assignment?user_id=u1");
        Assert.Equal(HttpStatusCode.NotFound, assignment.StatusCode);

        var report = await client.GetFromJsonAsync<JsonElement>("/analytics?experiment_id=external");
        var experiment = Assert.Single(report.GetProperty("experiments").EnumerateArray());
        Assert.Equal("session", experiment.GetProperty("unit").GetString());
        Assert.Equal(JsonValueKind.Null, experiment.GetProperty("sample_ratio").ValueKind); // no intended split to test against
        var comparison = Assert.Single(experiment.GetProperty("comparisons").EnumerateArray());
        Assert.Equal("prompts_per_session", comparison.GetProperty("readout").GetProperty("primary_metric").GetString());
        Assert.Equal("errors", Assert.Single(comparison.GetProperty("readout").GetProperty("guardrails").EnumerateArray()).GetProperty("name").GetString());
    }

    [Fact]
    public async Task A_split_of_one_group_stops_the_start_with_the_setting_named()
    {
        await using var factory = new GatewayHost { Settings = new Dictionary<string, string> { ["Analytics:Experiments:lonely:Split:only"] = "1" } };
        var error = Assert.ThrowsAny<Microsoft.Extensions.Options.OptionsValidationException>(() => factory.CreateClient());
        Assert.Contains("Analytics:Experiments:lonely:Split", error.Message, StringComparison.Ordinal);
    }

    private static async Task<JsonElement> StartAsync(HttpClient client, string json)
    {
        using var response = await client.PostAsync("/session/start", new StringContent(json, Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return await response.Content.ReadFromJsonAsync<JsonElement>();
    }
}
