using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Json.Schema;

namespace SessionTracking.Contract.Tests;

/// <summary>
/// The served OpenAPI document as a validator of real answers: the operation (path template and method), the status,
/// the media type and the body (JSON Schema 2020-12, as OpenAPI 3.1 defines it, evaluated by JsonSchema.Net).
/// </summary>
public sealed class OpenApiContract
{
    private const string ComponentsPrefix = "#/components/schemas/";

    private readonly JsonElement _paths;
    private readonly JsonNode _definitions;
    private readonly Dictionary<string, JsonSchema> _schemas = [];

    private OpenApiContract(JsonElement document)
    {
        Document = document;
        _paths = document.GetProperty("paths");
        _definitions = JsonNode.Parse(document.GetProperty("components").GetProperty("schemas").GetRawText().Replace(ComponentsPrefix, "#/$defs/", StringComparison.Ordinal))!;
    }

    public JsonElement Document { get; }

    public static OpenApiContract Parse(string json) => new(JsonDocument.Parse(json).RootElement.Clone());

    /// <summary>Every way the answer differs from the document; empty when it conforms.</summary>
    public IReadOnlyList<string> Check(string method, string pathAndQuery, int status, string? contentType, string body)
    {
        var path = pathAndQuery.Split('?')[0];
        var where = $"{method} {pathAndQuery} → {status}";
        if (FindOperation(method, path) is not { } operation)
        {
            return [$"{where}: no operation in the document"];
        }

        var responses = operation.GetProperty("responses");
        if (!responses.TryGetProperty(status.ToString(System.Globalization.CultureInfo.InvariantCulture), out var response)
            && !responses.TryGetProperty("default", out response))
        {
            return [$"{where}: status not declared (declared: {string.Join(", ", responses.EnumerateObject().Select(r => r.Name))})"];
        }

        if (!response.TryGetProperty("content", out var content))
        {
            return body.Length == 0 ? [] : [$"{where}: a body where the document declares none"];
        }

        var mediaType = contentType?.Split(';')[0].Trim().ToLowerInvariant();
        if (mediaType is null || !content.TryGetProperty(mediaType, out var media))
        {
            return [$"{where}: media type '{mediaType}' not declared (declared: {string.Join(", ", content.EnumerateObject().Select(c => c.Name))})"];
        }

        var schema = media.TryGetProperty("schema", out var s) ? Compile(s) : null;
        return mediaType switch
        {
            "application/json" or "application/problem+json" => Validate(where, schema, body),
            "text/event-stream" => ValidateEvents(where, schema, body),
            "application/x-ndjson" => body.Split('\n', StringSplitOptions.RemoveEmptyEntries)
                .SelectMany((line, i) => IsJsonObject(line) ? [] : new[] { $"{where}: line {i + 1} is not a JSON object" }).ToList(),
            _ => Validate(where, schema, JsonSerializer.Serialize(body)),
        };
    }

    private JsonElement? FindOperation(string method, string path)
    {
        var candidates = _paths.EnumerateObject()
            .Where(p => p.Value.TryGetProperty(method.ToLowerInvariant(), out _))
            .Where(p => Regex.IsMatch(path, "^" + Regex.Replace(Regex.Escape(p.Name), @"\\\{[^}]+}", "[^/]+") + "$"))
            .OrderBy(p => p.Name.Count(c => c == '{'))
            .ToList();
        return candidates.Count == 0 ? null : candidates[0].Value.GetProperty(method.ToLowerInvariant());
    }

    private JsonSchema Compile(JsonElement schema)
    {
        var key = schema.GetRawText();
        if (!_schemas.TryGetValue(key, out var compiled))
        {
            var wrapper = new JsonObject
            {
                ["$schema"] = "https://json-schema.org/draft/2020-12/schema",
                ["$defs"] = _definitions.DeepClone(),
                ["allOf"] = new JsonArray(JsonNode.Parse(key.Replace(ComponentsPrefix, "#/$defs/", StringComparison.Ordinal))),
            };
            compiled = JsonSchema.FromText(wrapper.ToJsonString(), new BuildOptions { SchemaRegistry = new SchemaRegistry() });
            _schemas[key] = compiled;
        }

        return compiled;
    }

    private static List<string> Validate(string where, JsonSchema? schema, string body)
    {
        if (schema is null)
        {
            return [];
        }

        JsonElement instance;
        try
        {
            instance = JsonDocument.Parse(body).RootElement.Clone();
        }
        catch (JsonException ex)
        {
            return [$"{where}: the body is not JSON ({ex.Message}): {Shorten(body)}"];
        }

        var result = schema.Evaluate(instance, new EvaluationOptions { OutputFormat = OutputFormat.List });
        return result.IsValid
            ? []
            : [$"{where}: {string.Join("; ", Errors(result))} in {Shorten(body)}"];
    }

    /// <summary>A stream is valid when the list of its events (<c>{event, data}</c>, data parsed) matches the schema.</summary>
    private static List<string> ValidateEvents(string where, JsonSchema? schema, string body)
    {
        var events = new JsonArray();
        foreach (var block in body.Replace("\r\n", "\n", StringComparison.Ordinal).Split("\n\n", StringSplitOptions.RemoveEmptyEntries))
        {
            string? name = null;
            var data = new StringBuilder();
            foreach (var line in block.Split('\n'))
            {
                if (line.StartsWith("event:", StringComparison.Ordinal))
                {
                    name = line["event:".Length..].Trim();
                }
                else if (line.StartsWith("data:", StringComparison.Ordinal))
                {
                    data.Append(line["data:".Length..].TrimStart());
                }
            }

            if (!IsJsonObject(data.ToString()))
            {
                return [$"{where}: event '{name}' has data that is not a JSON object: {Shorten(data.ToString())}"];
            }

            events.Add(new JsonObject { ["event"] = name, ["data"] = JsonNode.Parse(data.ToString()) });
        }

        return events.Count == 0 ? [$"{where}: no events"] : Validate(where, schema, events.ToJsonString());
    }

    private static IEnumerable<string> Errors(EvaluationResults result) =>
        (result.Details ?? []).Where(d => d.Errors is { Count: > 0 })
            .SelectMany(d => d.Errors!.Select(e => $"{d.InstanceLocation}: {e.Value}"))
            .DefaultIfEmpty("invalid");

    private static bool IsJsonObject(string text)
    {
        try
        {
            return JsonNode.Parse(text) is JsonObject;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    private static string Shorten(string text) => text.Length <= 300 ? text : text[..300] + "…";
}
