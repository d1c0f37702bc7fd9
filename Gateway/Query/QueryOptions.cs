using System.ComponentModel.DataAnnotations;

namespace SessionTracking.Gateway.Query;

/// <summary>The model behind /query, section <c>Query</c>.</summary>
public sealed class QueryOptions : IValidatableObject
{
    public const string SectionName = "Query";

    /// <summary><c>Offline</c> (default, deterministic, no network) or <c>OpenAI</c> (any OpenAI-compatible endpoint).</summary>
    [Required]
    public string Provider { get; set; } = "Offline";

    /// <summary>OpenAI: base URL of the API (default https://api.openai.com/v1).</summary>
    public Uri? Endpoint { get; set; }

    /// <summary>OpenAI: the API key.</summary>
    public string? ApiKey { get; set; }

    /// <summary>OpenAI: the model id.</summary>
    public string Model { get; set; } = "gpt-4o-mini";

    /// <summary>Longest prompt accepted, in characters. Default 32,000.</summary>
    [Range(1, 1_000_000)]
    public int MaxPromptLength { get; set; } = 32_000;

    /// <summary>
    /// Offline model: pause between streamed words, so /query/stream behaves like a model (time to first token,
    /// a stop button that has something to stop). Default 30 ms; 0 streams at once. /query does not wait.
    /// </summary>
    [Range(0, 10_000)]
    public int OfflineTokenDelayMs { get; set; } = 30;

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (Provider.Equals("OpenAI", StringComparison.OrdinalIgnoreCase))
        {
            if (string.IsNullOrWhiteSpace(ApiKey))
            {
                yield return new ValidationResult("Query:ApiKey is required when Query:Provider is OpenAI.", [nameof(ApiKey)]);
            }
        }
        else if (!Provider.Equals("Offline", StringComparison.OrdinalIgnoreCase))
        {
            yield return new ValidationResult($"Unknown Query:Provider '{Provider}'. Known: Offline, OpenAI.", [nameof(Provider)]);
        }
    }
}
