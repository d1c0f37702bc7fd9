using System.Text.Json;
using SessionTracking.Metrics;
using SessionTracking.TestSupport;

namespace SessionTracking.Analytics.Tests;

/// <summary>The condition language of custom metrics (docs/custom-metrics.md, "Conditions"): parsing and every matching rule.</summary>
[TestCategory("BVT")]
public sealed class MetricConditionTests
{
    [Theory]
    // Strings: ordinal, typed (a number is not the string), missing matches nothing, != included.
    [InlineData("""data.feedback = "up" """, """{"feedback":"up"}""", true)]
    [InlineData("""data.feedback = "up" """, """{"feedback":"UP"}""", false)]
    [InlineData("""data.feedback = "up" """, """{"feedback":5}""", false)]
    [InlineData("""data.feedback = "up" """, """{"feedback":null}""", false)]
    [InlineData("""data.feedback = "up" """, """{}""", false)]
    [InlineData("""data.feedback != "up" """, """{"feedback":"down"}""", true)]
    [InlineData("""data.feedback != "up" """, """{"feedback":"up"}""", false)]
    [InlineData("""data.feedback != "up" """, """{"feedback":5}""", false)]
    [InlineData("""data.feedback != "up" """, """{}""", false)]
    [InlineData("""data.v < "b" """, """{"v":"a"}""", true)]
    [InlineData("""data.v < "b" """, """{"v":"B"}""", true)] // ordinal: 'B' (66) < 'b' (98)
    [InlineData("""data.v < "b" """, """{"v":"ba"}""", false)]
    [InlineData("""data.v >= "b" """, """{"v":"ba"}""", true)]
    [InlineData("""data.name = "\u00e9t\u00e9" """, """{"name":"été"}""", true)]
    [InlineData("""data.name = "été" """, """{"name":"\u00e9t\u00e9"}""", true)]
    // Numbers: numeric, typed ("5", true, null never match a numeric comparison), any JSON spelling.
    [InlineData("data.score >= 4", """{"score":4}""", true)]
    [InlineData("data.score >= 4", """{"score":4.0}""", true)]
    [InlineData("data.score >= 4", """{"score":0.4e1}""", true)]
    [InlineData("data.score >= 4", """{"score":3.99}""", false)]
    [InlineData("data.score >= 4", """{"score":"5"}""", false)]
    [InlineData("data.score >= 4", """{"score":true}""", false)]
    [InlineData("data.score >= 4", """{"score":null}""", false)]
    [InlineData("data.score >= 4", """{"score":[5]}""", false)]
    [InlineData("data.score >= 4", """{}""", false)]
    [InlineData("data.score != 4", """{"score":"4"}""", false)]
    [InlineData("data.score != 4", """{"score":5}""", true)]
    [InlineData("data.score > -1.5e3", """{"score":-1499}""", true)]
    [InlineData("data.score < 0", """{"score":-0.0}""", false)]
    [InlineData("data.score = 0", """{"score":-0.0}""", true)]
    // Beyond doubles: ±∞, still ordered.
    [InlineData("data.score > 1e300", """{"score":1e400}""", true)]
    [InlineData("data.score < -1e300", """{"score":-1e400}""", true)]
    // Integers of any size compare exactly; 2^53 + 1 is not 2^53 (as doubles they would be equal).
    [InlineData("data.id = 9007199254740993", """{"id":9007199254740993}""", true)]
    [InlineData("data.id = 9007199254740993", """{"id":9007199254740992}""", false)]
    [InlineData("data.id > 18446744073709551615", """{"id":18446744073709551616}""", true)]
    [InlineData("data.id < 18446744073709551615", """{"id":-5}""", true)]
    [InlineData("data.id = 123456789012345678901234567890", """{"id":123456789012345678901234567890}""", true)]
    [InlineData("data.id = 123456789012345678901234567890", """{"id":123456789012345678901234567891}""", false)]
    [InlineData("data.id > 1.5", """{"id":18446744073709551616}""", true)]
    // Booleans and null.
    [InlineData("data.ok = true", """{"ok":true}""", true)]
    [InlineData("data.ok = true", """{"ok":1}""", false)]
    [InlineData("data.ok = false", """{"ok":false}""", true)]
    [InlineData("data.ok != true", """{"ok":false}""", true)]
    [InlineData("data.ok != true", """{"ok":"false"}""", false)]
    [InlineData("data.x = null", """{"x":null}""", true)]
    [InlineData("data.x = null", """{}""", false)]
    [InlineData("data.x != null", """{"x":0}""", true)]
    [InlineData("data.x != null", """{"x":null}""", false)]
    [InlineData("data.x != null", """{}""", false)]
    // Nested paths: objects only; arrays are not entered; a key with a dot cannot be addressed.
    [InlineData("data.a.b.c = true", """{"a":{"b":{"c":true}}}""", true)]
    [InlineData("data.a.b.c = true", """{"a":{"b":[{"c":true}]}}""", false)]
    [InlineData("data.a.b.c = true", """{"a.b":{"c":true}}""", false)]
    [InlineData("data.a.b.c = true", """{"a":{"b":5}}""", false)]
    [InlineData("data.a.0 = 1", """{"a":[1]}""", false)]
    [InlineData("data.a.0 = 1", """{"a":{"0":1}}""", true)]
    [InlineData("data.$k-1_x = 1", """{"$k-1_x":1}""", true)]
    // Data that is not an object has no fields.
    [InlineData("data.x = 1", "1", false)]
    [InlineData("data.x = 1", "[1]", false)]
    [InlineData("data.x = 1", "null", false)]
    // Spacing around the operator is free.
    [InlineData("  data.score>=4  ", """{"score":4}""", true)]
    public void Conditions_match_by_the_documented_rules(string text, string data, bool expected)
    {
        var condition = Condition.Parse(text, out var error);
        Assert.True(condition is not null, error);
        using var document = JsonDocument.Parse(data);
        Assert.Equal(expected, condition.Matches(document.RootElement));
    }

    [Theory]
    [InlineData("score >= 4", "must start with 'data.'")]
    [InlineData("data = 1", "must start with 'data.'")]
    [InlineData("data. = 1", "segments")]
    [InlineData("data.a..b = 1", "segments")]
    [InlineData("data.a b = 1", "no operator")]
    [InlineData("data.a", "no operator")]
    [InlineData("data.a ~ 1", "no operator")]
    [InlineData("data.a == 1", "not a JSON literal")]
    [InlineData("data.a = up", "not a JSON literal")]
    [InlineData("data.a = 'up'", "not a JSON literal")]
    [InlineData("data.a = ", "the literal is missing")]
    [InlineData("data.a = 1 2", "not a JSON literal")]
    [InlineData("data.a = 01", "not a JSON literal")]
    [InlineData("data.a = NaN", "not a JSON literal")]
    [InlineData("data.a = {}", "not an object or array")]
    [InlineData("data.a = [1]", "not an object or array")]
    [InlineData("data.a >= true", "takes only = or !=")]
    [InlineData("data.a < null", "takes only = or !=")]
    public void Malformed_conditions_are_refused_with_the_reason(string text, string reason)
    {
        Assert.Null(Condition.Parse(text, out var error));
        Assert.Contains(reason, error);
    }

    [Fact]
    public void A_condition_prints_as_it_parses()
    {
        var condition = Condition.Parse("""data.a.b>="x\"y" """, out _)!;
        Assert.Equal("""data.a.b >= "x\"y" """.Trim(), condition.ToString());
        Assert.Equal(condition, Condition.Parse(condition.ToString(), out _));
        Assert.Equal(new[] { "a", "b" }, condition.Path.Segments);
    }
}
