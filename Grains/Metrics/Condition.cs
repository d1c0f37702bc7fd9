using System.Globalization;
using System.Numerics;
using System.Text.Json;

namespace SessionTracking.Metrics;

/// <summary>
/// A path into an event's <c>data</c> object: <c>data.a.b</c> is the property <c>b</c> of the object <c>a</c>. Segments are
/// property names of <c>[A-Za-z0-9_$-]</c>, so a key containing a dot, a space or any other character cannot be addressed,
/// and arrays are not entered (a segment never indexes an array: the path is missing). docs/custom-metrics.md, "Conditions".
/// </summary>
public sealed record FieldPath
{
    private readonly string[] _segments;

    private FieldPath(string[] segments) => _segments = segments;

    public IReadOnlyList<string> Segments => _segments;

    /// <summary><paramref name="text"/> is the whole path including its <c>data.</c> prefix.</summary>
    public static FieldPath? Parse(string text, out string? error)
    {
        const string Prefix = "data.";
        if (!text.StartsWith(Prefix, StringComparison.Ordinal))
        {
            error = $"'{text}' is not a field path: it must start with 'data.' (e.g. data.score)";
            return null;
        }

        var segments = text[Prefix.Length..].Split('.');
        foreach (var segment in segments)
        {
            if (segment.Length == 0 || !segment.All(IsPathChar))
            {
                error = $"'{text}' is not a field path: segments are property names of A-Z, a-z, 0-9, _, $ and - separated by single dots";
                return null;
            }
        }

        error = null;
        return new FieldPath(segments);
    }

    public static bool IsPathChar(char c) => char.IsAsciiLetterOrDigit(c) || c is '_' or '$' or '-';

    /// <summary>The value at the path; false when any segment is missing or its parent is not an object.</summary>
    public bool TryResolve(JsonElement data, out JsonElement value)
    {
        value = data;
        foreach (var segment in _segments)
        {
            if (value.ValueKind != JsonValueKind.Object || !value.TryGetProperty(segment, out value))
            {
                return false;
            }
        }

        return true;
    }

    // Value equality for definitions compared or hashed by their text.
    public bool Equals(FieldPath? other) => other is not null && _segments.AsSpan().SequenceEqual(other._segments);

    public override int GetHashCode() => ToString().GetHashCode(StringComparison.Ordinal);

    public override string ToString() => "data." + string.Join('.', _segments);
}

public enum ComparisonOperator
{
    Equal,
    NotEqual,
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
}

/// <summary>
/// <c>data.&lt;path&gt; &lt;op&gt; &lt;literal&gt;</c>, op one of <c>= != &lt; &lt;= &gt; &gt;=</c>, literal a JSON string,
/// number, <c>true</c>, <c>false</c> or <c>null</c>. Parsed once when definitions are validated; evaluated on the event's
/// already parsed <c>data</c> (one document per event, shared by every metric). The rules, precisely:
/// <list type="bullet">
/// <item>A missing field (or a path through a non-object) matches nothing, <c>!=</c> included.</item>
/// <item>The field must have the literal's JSON type: a number literal compares only with a JSON number (a string "5"
/// never matches a numeric comparison), a string literal only with a string, true/false only with a boolean.</item>
/// <item>Numbers compare numerically: integers written without fraction or exponent exactly at any size (so
/// 9007199254740993 ≠ 9007199254740992), everything else as doubles (beyond ±1.8·10³⁰⁸ as ±∞). Strings compare
/// ordinally (UTF-16 code units, no culture, case-sensitive).</item>
/// <item><c>= null</c> matches a JSON null; <c>!= null</c> any present value that is not null. Ordering operators take only
/// number and string literals (refused at validation otherwise).</item>
/// </list>
/// </summary>
public sealed record Condition(FieldPath Path, ComparisonOperator Operator, string LiteralText)
{
    private JsonValueKind LiteralKind { get; init; }

    private string? LiteralString { get; init; }

    private double LiteralNumber { get; init; }

    private BigInteger? LiteralInteger { get; init; }

    public static Condition? Parse(string text, out string? error)
    {
        var trimmed = text.Trim();
        var end = 0;
        while (end < trimmed.Length && (FieldPath.IsPathChar(trimmed[end]) || trimmed[end] == '.'))
        {
            end++;
        }

        var path = FieldPath.Parse(trimmed[..end], out error);
        if (path is null)
        {
            return null;
        }

        var rest = trimmed[end..].TrimStart();
        var (op, length) = rest switch
        {
            _ when rest.StartsWith("!=", StringComparison.Ordinal) => (ComparisonOperator.NotEqual, 2),
            _ when rest.StartsWith("<=", StringComparison.Ordinal) => (ComparisonOperator.LessOrEqual, 2),
            _ when rest.StartsWith(">=", StringComparison.Ordinal) => (ComparisonOperator.GreaterOrEqual, 2),
            _ when rest.StartsWith('=') => (ComparisonOperator.Equal, 1),
            _ when rest.StartsWith('<') => (ComparisonOperator.Less, 1),
            _ when rest.StartsWith('>') => (ComparisonOperator.Greater, 1),
            _ => ((ComparisonOperator?)null, 0),
        };
        if (op is not { } comparison)
        {
            error = $"'{text}' has no operator after {path}: use one of = != < <= > >=";
            return null;
        }

        var literal = rest[length..].Trim();
        JsonValueKind kind;
        string? literalString = null;
        try
        {
            using var document = JsonDocument.Parse(literal);
            kind = document.RootElement.ValueKind;
            if (kind == JsonValueKind.String)
            {
                literalString = document.RootElement.GetString();
            }
        }
        catch (JsonException)
        {
            error = $"'{text}': {(literal.Length == 0 ? "the literal is missing" : $"'{literal}' is not a JSON literal")} (a JSON string in double quotes, a number, true, false or null)";
            return null;
        }

        if (kind is JsonValueKind.Object or JsonValueKind.Array)
        {
            error = $"'{text}': the literal must be a JSON string, number, true, false or null, not an object or array";
            return null;
        }

        if (comparison is not (ComparisonOperator.Equal or ComparisonOperator.NotEqual) && kind is not (JsonValueKind.Number or JsonValueKind.String))
        {
            error = $"'{text}': < <= > >= compare numbers or strings; {literal} takes only = or !=";
            return null;
        }

        error = null;
        return new Condition(path, comparison, literal)
        {
            LiteralKind = kind,
            LiteralString = literalString,
            LiteralNumber = kind == JsonValueKind.Number ? ParseDouble(literal) : 0,
            LiteralInteger = kind == JsonValueKind.Number && IsIntegerText(literal) ? BigInteger.Parse(literal, CultureInfo.InvariantCulture) : null,
        };
    }

    /// <summary>Whether <paramref name="data"/> (the event's data, any JSON value) satisfies the condition.</summary>
    public bool Matches(JsonElement data)
    {
        if (!Path.TryResolve(data, out var value))
        {
            return false;
        }

        switch (LiteralKind)
        {
            case JsonValueKind.Null:
                return (value.ValueKind == JsonValueKind.Null) == (Operator == ComparisonOperator.Equal);
            case JsonValueKind.True or JsonValueKind.False:
                return value.ValueKind is JsonValueKind.True or JsonValueKind.False
                    && (value.ValueKind == LiteralKind) == (Operator == ComparisonOperator.Equal);
            case JsonValueKind.String when value.ValueKind == JsonValueKind.String:
                // Equality on the raw UTF-8 needs no string; ordering does.
                return Operator switch
                {
                    ComparisonOperator.Equal => value.ValueEquals(LiteralString),
                    ComparisonOperator.NotEqual => !value.ValueEquals(LiteralString),
                    _ => Holds(string.CompareOrdinal(value.GetString(), LiteralString)),
                };
            case JsonValueKind.Number when value.ValueKind == JsonValueKind.Number:
                return Holds(CompareNumber(value));
            default:
                return false;
        }
    }

    public override string ToString() => $"{Path} {Symbol(Operator)} {LiteralText}";

    public static string Symbol(ComparisonOperator op) => op switch
    {
        ComparisonOperator.Equal => "=",
        ComparisonOperator.NotEqual => "!=",
        ComparisonOperator.Less => "<",
        ComparisonOperator.LessOrEqual => "<=",
        ComparisonOperator.Greater => ">",
        _ => ">=",
    };

    /// <summary>The double a JSON number stands for; ±∞ beyond the range of doubles (1e400), never an exception.</summary>
    public static double ParseDouble(string jsonNumber) => double.Parse(jsonNumber, NumberStyles.Float, CultureInfo.InvariantCulture);

    public static double NumberOf(JsonElement number) => number.TryGetDouble(out var d) ? d : ParseDouble(number.GetRawText());

    private int CompareNumber(JsonElement value)
    {
        if (LiteralInteger is { } integer)
        {
            if (value.TryGetInt64(out var small))
            {
                return ((BigInteger)small).CompareTo(integer);
            }

            // Only integers beyond Int64 (rare) pay for their text.
            var raw = value.GetRawText();
            if (IsIntegerText(raw))
            {
                return BigInteger.Parse(raw, CultureInfo.InvariantCulture).CompareTo(integer);
            }
        }

        return NumberOf(value).CompareTo(LiteralNumber);
    }

    private bool Holds(int comparison) => Operator switch
    {
        ComparisonOperator.Equal => comparison == 0,
        ComparisonOperator.NotEqual => comparison != 0,
        ComparisonOperator.Less => comparison < 0,
        ComparisonOperator.LessOrEqual => comparison <= 0,
        ComparisonOperator.Greater => comparison > 0,
        _ => comparison >= 0,
    };

    private static bool IsIntegerText(string jsonNumber) => !jsonNumber.AsSpan().ContainsAny('.', 'e', 'E');
}
