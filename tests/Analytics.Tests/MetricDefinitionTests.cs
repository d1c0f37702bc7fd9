using Microsoft.Extensions.Configuration;
using SessionTracking.Metrics;
using SessionTracking.TestSupport;

namespace SessionTracking.Analytics.Tests;

/// <summary>
/// Custom metric definitions as configured (<c>Analytics:Metrics:&lt;name&gt;:…</c>, bound by ConfigurationBinder as the
/// service will bind them): valid ones become definitions, and every invalid setting is an error naming it.
/// </summary>
[TestCategory("BVT")]
public sealed class MetricDefinitionTests
{
    /// <summary>"key=value;key=value" under Analytics, bound and validated.</summary>
    internal static MetricValidation Validate(string settings)
    {
        var pairs = settings.Split(';', StringSplitOptions.RemoveEmptyEntries)
            .Select(p => p.Split('=', 2))
            .Select(p => new KeyValuePair<string, string?>("Analytics:" + p[0].Trim(), p[1].Trim()));
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(pairs).Build().GetSection("Analytics");
        var metrics = configuration.GetSection("Metrics").Get<Dictionary<string, MetricOptions>>() ?? [];
        var prices = configuration.GetSection("Prices").Get<Dictionary<string, ModelPriceOptions>>() ?? [];
        return MetricValidator.Validate(metrics, prices);
    }

    [Theory]
    // Kind
    [InlineData("Metrics:x:Kind=median;Metrics:x:EventType=a", "Analytics:Metrics:x:Kind must be one of proportion, count, sum, mean, ratio, quantile, retention, funnel, not 'median'")]
    [InlineData("Metrics:x:Kind=1;Metrics:x:EventType=a", "Analytics:Metrics:x:Kind must be one of")]
    [InlineData("Metrics:x:Kind=count,sum;Metrics:x:EventType=a", "Analytics:Metrics:x:Kind must be one of")]
    [InlineData("Metrics:x:EventType=a", "Analytics:Metrics:x:Kind must be one of proportion, count, sum, mean, ratio, quantile, retention, funnel; it is missing")]
    // Names
    [InlineData("Metrics:Rating:Kind=count;Metrics:Rating:EventType=a", "Analytics:Metrics:Rating is not a metric name")]
    [InlineData("Metrics:1x:Kind=count;Metrics:1x:EventType=a", "Analytics:Metrics:1x is not a metric name")]
    [InlineData("Metrics:a-b:Kind=count;Metrics:a-b:EventType=a", "Analytics:Metrics:a-b is not a metric name")]
    [InlineData("Metrics:a12345678901234567890123456789012345678901234567890123456789012345:Kind=count;Metrics:a12345678901234567890123456789012345678901234567890123456789012345:EventType=a", "is not a metric name")]
    [InlineData("Metrics:latency_ms:Kind=count;Metrics:latency_ms:EventType=a", "Analytics:Metrics:latency_ms collides with the built-in metric 'latency_ms'")]
    [InlineData("Metrics:up_rate:Kind=count;Metrics:up_rate:EventType=a", "Analytics:Metrics:up_rate collides")]
    [InlineData("Metrics:ttft_p95:Kind=count;Metrics:ttft_p95:EventType=a", "Analytics:Metrics:ttft_p95 collides")]
    [InlineData("Metrics:tokens_per_response:Kind=count;Metrics:tokens_per_response:EventType=a", "Analytics:Metrics:tokens_per_response collides")]
    [InlineData("Metrics:sessions_with_copy:Kind=count;Metrics:sessions_with_copy:EventType=a", "Analytics:Metrics:sessions_with_copy collides")]
    [InlineData("Metrics:cost_per_session:Kind=count;Metrics:cost_per_session:EventType=a", "Analytics:Metrics:cost_per_session collides")]
    // Event types and conditions
    [InlineData("Metrics:x:Kind=count", "Analytics:Metrics:x:EventType is required for a count metric")]
    [InlineData("Metrics:x:Kind=count;Metrics:x:EventType=task done", "Analytics:Metrics:x:EventType: 'task done' is not an event type")]
    [InlineData("Metrics:x:Kind=count;Metrics:x:EventType=a;Metrics:x:Where=data.a == 1", "Analytics:Metrics:x:Where: 'data.a == 1': '= 1' is not a JSON literal")]
    [InlineData("Metrics:x:Kind=count;Metrics:x:EventType=a;Metrics:x:Where=score >= 4", "Analytics:Metrics:x:Where: 'score' is not a field path: it must start with 'data.'")]
    [InlineData("Metrics:x:Kind=retention;Metrics:x:FromDay=1;Metrics:x:ToDay=1;Metrics:x:Where=data.a = 1", "Analytics:Metrics:x:Where is not used by a retention metric")]
    // Fields
    [InlineData("Metrics:x:Kind=sum;Metrics:x:EventType=a", "Analytics:Metrics:x:Field is required for a sum metric")]
    [InlineData("Metrics:x:Kind=mean;Metrics:x:EventType=a;Metrics:x:Field=amount", "Analytics:Metrics:x:Field: 'amount' is not a field path")]
    [InlineData("Metrics:x:Kind=quantile;Metrics:x:Quantile=0.5;Metrics:x:EventType=a;Metrics:x:Field=data.a b", "Analytics:Metrics:x:Field: 'data.a b' is not a field path")]
    [InlineData("Metrics:x:Kind=count;Metrics:x:EventType=a;Metrics:x:Field=data.a", "Analytics:Metrics:x:Field is not used by a count metric; remove it")]
    [InlineData("Metrics:x:Kind=count;Metrics:x:EventType=a;Metrics:x:PerEvent=true", "Analytics:Metrics:x:PerEvent is not used by a count metric")]
    // Ratios
    [InlineData("Metrics:r:Kind=ratio;Metrics:r:Numerator=c;Metrics:c:Kind=count;Metrics:c:EventType=a", "Analytics:Metrics:r:Denominator is required for a ratio metric")]
    [InlineData("Metrics:r:Kind=ratio;Metrics:r:Denominator=c;Metrics:c:Kind=count;Metrics:c:EventType=a", "Analytics:Metrics:r:Numerator is required for a ratio metric")]
    [InlineData("Metrics:r:Kind=ratio;Metrics:r:Numerator=c;Metrics:r:Denominator=nope;Metrics:c:Kind=count;Metrics:c:EventType=a", "Analytics:Metrics:r:Denominator names 'nope', which is not a defined metric.")]
    [InlineData("Metrics:r:Kind=ratio;Metrics:r:Numerator=c;Metrics:r:Denominator=b;Metrics:c:Kind=count;Metrics:c:EventType=a;Metrics:b:Kind=count", "Analytics:Metrics:r:Denominator names 'b', which is not a defined metric (its definition has errors)")]
    [InlineData("Metrics:r:Kind=ratio;Metrics:r:Numerator=r;Metrics:r:Denominator=c;Metrics:c:Kind=count;Metrics:c:EventType=a", "Analytics:Metrics:r:Numerator names the ratio itself")]
    [InlineData("Metrics:r:Kind=ratio;Metrics:r:Numerator=c;Metrics:r:Denominator=m;Metrics:c:Kind=count;Metrics:c:EventType=a;Metrics:m:Kind=mean;Metrics:m:EventType=a;Metrics:m:Field=data.v", "Analytics:Metrics:r:Denominator names 'm', a mean metric")]
    [InlineData("Metrics:r:Kind=ratio;Metrics:r:Numerator=c;Metrics:r:Denominator=c;Metrics:r:EventType=a;Metrics:c:Kind=count;Metrics:c:EventType=a", "Analytics:Metrics:r:EventType is not used by a ratio metric")]
    [InlineData("Metrics:r:Kind=ratio;Metrics:r:Numerator=c;Metrics:r:Denominator=c;Metrics:r:WindowHours=1;Metrics:c:Kind=count;Metrics:c:EventType=a", "Analytics:Metrics:r:WindowHours is not used by a ratio metric")]
    // Quantiles
    [InlineData("Metrics:x:Kind=quantile;Metrics:x:EventType=a;Metrics:x:Field=data.v", "Analytics:Metrics:x:Quantile must be strictly between 0 and 1 (0.95 for p95); it is missing")]
    [InlineData("Metrics:x:Kind=quantile;Metrics:x:EventType=a;Metrics:x:Field=data.v;Metrics:x:Quantile=1", "Analytics:Metrics:x:Quantile must be strictly between 0 and 1 (0.95 for p95), not 1")]
    [InlineData("Metrics:x:Kind=quantile;Metrics:x:EventType=a;Metrics:x:Field=data.v;Metrics:x:Quantile=0", "Analytics:Metrics:x:Quantile must be strictly between 0 and 1")]
    [InlineData("Metrics:x:Kind=quantile;Metrics:x:EventType=a;Metrics:x:Field=data.v;Metrics:x:Quantile=95", "Analytics:Metrics:x:Quantile must be strictly between 0 and 1")]
    [InlineData("Metrics:x:Kind=count;Metrics:x:EventType=a;Metrics:x:Quantile=0.5", "Analytics:Metrics:x:Quantile is not used by a count metric")]
    // Retention
    [InlineData("Metrics:x:Kind=retention;Metrics:x:FromDay=8;Metrics:x:ToDay=7", "Analytics:Metrics:x:FromDay (8) is after Analytics:Metrics:x:ToDay (7)")]
    [InlineData("Metrics:x:Kind=retention;Metrics:x:FromDay=-1;Metrics:x:ToDay=7", "Analytics:Metrics:x:FromDay must be a whole number of days from 0 to 3650")]
    [InlineData("Metrics:x:Kind=retention;Metrics:x:FromDay=1;Metrics:x:ToDay=-7", "Analytics:Metrics:x:ToDay must be a whole number of days from 0 to 3650")]
    [InlineData("Metrics:x:Kind=retention;Metrics:x:ToDay=7", "Analytics:Metrics:x:FromDay must be")]
    [InlineData("Metrics:x:Kind=retention;Metrics:x:FromDay=7;Metrics:x:ToDay=7;Metrics:x:WindowHours=24", "Analytics:Metrics:x:WindowHours is not used by a retention metric")]
    [InlineData("Metrics:x:Kind=count;Metrics:x:EventType=a;Metrics:x:FromDay=1", "Analytics:Metrics:x:FromDay is not used by a count metric")]
    // Funnels
    [InlineData("Metrics:x:Kind=funnel;Metrics:x:Steps:0=prompt", "Analytics:Metrics:x:Steps needs at least two steps (Steps:0, Steps:1, …), not 1")]
    [InlineData("Metrics:x:Kind=funnel", "Analytics:Metrics:x:Steps needs at least two steps (Steps:0, Steps:1, …), not 0")]
    [InlineData("Metrics:x:Kind=funnel;Metrics:x:Steps:0=prompt;Metrics:x:Steps:1=done where data.ok", "Analytics:Metrics:x:Steps:1: 'data.ok' has no operator")]
    [InlineData("Metrics:x:Kind=funnel;Metrics:x:Steps:0=prompt;Metrics:x:Steps:1=two words", "Analytics:Metrics:x:Steps:1: 'two words' is not an event type")]
    [InlineData("Metrics:x:Kind=funnel;Metrics:x:Steps:0=a;Metrics:x:Steps:1=b;Metrics:x:EventType=a", "Analytics:Metrics:x:EventType is not used by a funnel metric")]
    [InlineData("Metrics:x:Kind=count;Metrics:x:EventType=a;Metrics:x:Steps:0=a", "Analytics:Metrics:x:Steps is not used by a count metric")]
    // Windows
    [InlineData("Metrics:x:Kind=count;Metrics:x:EventType=a;Metrics:x:WindowHours=0", "Analytics:Metrics:x:WindowHours must be more than 0 and at most 87600 hours")]
    [InlineData("Metrics:x:Kind=count;Metrics:x:EventType=a;Metrics:x:WindowHours=1e9", "Analytics:Metrics:x:WindowHours must be more than 0")]
    // Capping
    [InlineData("Metrics:x:Kind=sum;Metrics:x:EventType=a;Metrics:x:Field=data.v;Metrics:x:CapValue=10;Metrics:x:CapPercentile=0.99", "Analytics:Metrics:x:CapValue and Analytics:Metrics:x:CapPercentile are both set")]
    [InlineData("Metrics:x:Kind=sum;Metrics:x:EventType=a;Metrics:x:Field=data.v;Metrics:x:CapPercentile=1", "Analytics:Metrics:x:CapPercentile must be strictly between 0 and 1")]
    [InlineData("Metrics:x:Kind=sum;Metrics:x:EventType=a;Metrics:x:Field=data.v;Metrics:x:CapValue=Infinity", "Analytics:Metrics:x:CapValue must be a finite number")]
    [InlineData("Metrics:x:Kind=proportion;Metrics:x:EventType=a;Metrics:x:CapValue=1", "Analytics:Metrics:x:CapValue: capping winsorizes a unit's count, sum or mean; a proportion metric has no such value")]
    [InlineData("Metrics:x:Kind=mean;Metrics:x:EventType=a;Metrics:x:Field=data.v;Metrics:x:PerEvent=true;Metrics:x:CapPercentile=0.9", "Analytics:Metrics:x:CapPercentile: capping winsorizes a unit's count, sum or mean; a mean per event metric")]
    // Prices
    [InlineData("Prices:m1:InputPerMillion=1", "Analytics:Prices:m1:OutputPerMillion must be a finite price ≥ 0; it is missing")]
    [InlineData("Prices:m1:InputPerMillion=-1;Prices:m1:OutputPerMillion=1", "Analytics:Prices:m1:InputPerMillion must be a finite price ≥ 0, not -1")]
    [InlineData("Prices:m1:InputPerMillion=1;Prices:m1:OutputPerMillion=NaN", "Analytics:Prices:m1:OutputPerMillion must be a finite price ≥ 0, not NaN")]
    [InlineData("Prices:a:InputPerMillion=1;Prices:a:OutputPerMillion=1;Prices:b:Model=a;Prices:b:InputPerMillion=1;Prices:b:OutputPerMillion=1", "Analytics:Prices:b:Model names 'a', which another price already names")]
    public void Every_invalid_setting_is_an_error_naming_it(string settings, string error)
    {
        var result = Validate(settings);
        Assert.Null(result.Metrics);
        Assert.Contains(result.Errors, e => e.StartsWith(error, StringComparison.Ordinal) || (e.Contains(error, StringComparison.Ordinal) && !error.StartsWith("Analytics:", StringComparison.Ordinal)));
    }

    [Fact]
    public void Every_error_is_reported_at_once()
    {
        var result = Validate("Metrics:a:Kind=nope;Metrics:B:Kind=count;Metrics:c:Kind=sum;Metrics:c:EventType=x");
        Assert.Equal(4, result.Errors.Count); // a: kind; B: name and event type; c: field
        Assert.All(result.Errors, e => Assert.StartsWith("Analytics:Metrics:", e, StringComparison.Ordinal));
    }

    /// <summary>The five examples of docs/custom-metrics.md, as the environment variables it lists would set them.</summary>
    internal const string GuideExamples =
        "Metrics:task_completion:Kind=proportion;Metrics:task_completion:EventType=task_completed;Metrics:task_completion:WindowHours=168;" +
        "Metrics:mean_rating:Kind=mean;Metrics:mean_rating:EventType=rating;Metrics:mean_rating:Field=data.score;Metrics:mean_rating:PerEvent=true;" +
        "Metrics:day7_retention:Kind=retention;Metrics:day7_retention:FromDay=7;Metrics:day7_retention:ToDay=7;" +
        "Metrics:answer_funnel:Kind=funnel;Metrics:answer_funnel:Steps:0=prompt;Metrics:answer_funnel:Steps:1=model_response;Metrics:answer_funnel:Steps:2=copy;" +
        "Prices:gpt-4o:InputPerMillion=2.5;Prices:gpt-4o:OutputPerMillion=10;Prices:claude-sonnet:Model=claude-sonnet-4;Prices:claude-sonnet:InputPerMillion=3;Prices:claude-sonnet:OutputPerMillion=15";

    [Fact]
    public void The_guide_examples_bind_and_validate()
    {
        var result = Validate(GuideExamples);
        Assert.Empty(result.Errors);
        var metrics = result.Metrics!;
        Assert.Equal(new[] { "answer_funnel", "day7_retention", "mean_rating", "task_completion" }, metrics.Definitions.Select(d => d.Name));
        Assert.Equal(new MetricDefinition("task_completion", MetricKind.Proportion, new EventMatch("task_completed"), Window: TimeSpan.FromDays(7)), metrics.ByName["task_completion"]);
        Assert.Equal(new MetricDefinition("mean_rating", MetricKind.Mean, new EventMatch("rating"), FieldPath.Parse("data.score", out _), PerEvent: true), metrics.ByName["mean_rating"]);
        Assert.Equal(new MetricDefinition("day7_retention", MetricKind.Retention, FromDay: 7, ToDay: 7), metrics.ByName["day7_retention"]);
        Assert.Equal(new[] { "prompt", "model_response", "copy" }, metrics.ByName["answer_funnel"].Steps!.Select(s => s.EventType));
        Assert.Equal(new ModelPrice(3, 15), metrics.Prices["claude-sonnet-4"]);
        Assert.Equal(new ModelPrice(2.5, 10), metrics.Prices["gpt-4o"]);
    }

    [Fact]
    public void Kinds_are_case_insensitive_and_every_optional_setting_takes_effect()
    {
        var result = Validate(
            "Metrics:spend:Kind=Sum;Metrics:spend:EventType=purchase;Metrics:spend:Where=data.currency = \"EUR\";Metrics:spend:Field=data.amount;" +
            "Metrics:spend:WindowHours=1.5;Metrics:spend:CapPercentile=0.99;Metrics:spend:HigherIsBetter=false;" +
            "Metrics:regenerates:Kind=COUNT;Metrics:regenerates:EventType=regenerate;Metrics:regenerates:CapValue=5;" +
            "Metrics:responses_n:Kind=count;Metrics:responses_n:EventType=model_response;" +
            "Metrics:regen_rate:Kind=ratio;Metrics:regen_rate:Numerator=regenerates;Metrics:regen_rate:Denominator=responses_n;" +
            "Metrics:p95_amount:Kind=quantile;Metrics:p95_amount:EventType=purchase;Metrics:p95_amount:Field=data.amount;Metrics:p95_amount:Quantile=0.95;" +
            "Metrics:active_week2:Kind=retention;Metrics:active_week2:EventType=prompt;Metrics:active_week2:Where=data.length > 0;Metrics:active_week2:FromDay=7;Metrics:active_week2:ToDay=13");
        Assert.Empty(result.Errors);
        var spend = result.Metrics!.ByName["spend"];
        Assert.Equal("purchase where data.currency = \"EUR\"", spend.Match!.ToString());
        Assert.Equal(TimeSpan.FromMinutes(90), spend.Window);
        Assert.Equal(new Capping(null, 0.99), spend.Cap);
        Assert.False(spend.HigherIsBetter);
        Assert.Equal(new Capping(5, null), result.Metrics.ByName["regenerates"].Cap);
        Assert.Equal(("regenerates", "responses_n"), (result.Metrics.ByName["regen_rate"].Numerator, result.Metrics.ByName["regen_rate"].Denominator));
        Assert.Equal(0.95, result.Metrics.ByName["p95_amount"].Quantile);
        Assert.Equal("prompt where data.length > 0", result.Metrics.ByName["active_week2"].Match!.ToString());
    }

    [Fact]
    public void The_hash_changes_with_what_is_folded_and_only_with_it()
    {
        MetricDefinition Of(string settings) => Validate(settings).Metrics!.Definitions.Single();
        var baseline = Of("Metrics:x:Kind=count;Metrics:x:EventType=a;Metrics:x:Where=data.v > 1");
        Assert.Matches("^[0-9a-f]{16}$", baseline.Hash);
        Assert.Equal(baseline.Hash, Of("Metrics:x:Kind=count;Metrics:x:EventType=a;Metrics:x:Where=data.v>1;Metrics:x:HigherIsBetter=false;Metrics:x:CapValue=3").Hash);
        Assert.NotEqual(baseline.Hash, Of("Metrics:x:Kind=count;Metrics:x:EventType=a;Metrics:x:Where=data.v > 2").Hash);
        Assert.NotEqual(baseline.Hash, Of("Metrics:x:Kind=count;Metrics:x:EventType=b;Metrics:x:Where=data.v > 1").Hash);
        Assert.NotEqual(baseline.Hash, Of("Metrics:x:Kind=count;Metrics:x:EventType=a;Metrics:x:Where=data.v > 1;Metrics:x:WindowHours=24").Hash);
        Assert.NotEqual(baseline.Hash, Of("Metrics:x:Kind=proportion;Metrics:x:EventType=a;Metrics:x:Where=data.v > 1").Hash);

        // A ratio's stored values follow its parts' definitions.
        const string Ratio = "Metrics:r:Kind=ratio;Metrics:r:Numerator=a;Metrics:r:Denominator=b;Metrics:b:Kind=count;Metrics:b:EventType=b;";
        var before = Validate(Ratio + "Metrics:a:Kind=count;Metrics:a:EventType=a").Metrics!;
        var after = Validate(Ratio + "Metrics:a:Kind=count;Metrics:a:EventType=a;Metrics:a:WindowHours=1").Metrics!;
        Assert.Equal(before.ByName["r"].Hash, after.ByName["r"].Hash);
        Assert.NotEqual(before.StorageHash("r"), after.StorageHash("r"));
        Assert.Equal(before.StorageHash("b"), after.StorageHash("b"));
        Assert.Equal(before.ByName["b"].Hash, before.StorageHash("b"));
    }
}
