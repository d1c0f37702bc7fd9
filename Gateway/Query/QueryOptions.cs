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

    /// <summary>
    /// Most tokens of one answer, sent to the model (<c>ChatOptions.MaxOutputTokens</c>; the offline model counts words).
    /// Bounds what one request, streamed or not, can spend before the token budgets see it. Default 1,024.
    /// </summary>
    [Range(1, 1_000_000, ErrorMessage = "Query:MaxOutputTokens must be between {1} and {2}.")]
    public int MaxOutputTokens { get; set; } = 1_024;

    /// <summary>
    /// Refuse (400) a query without <c>session_id</c>: queries then spend only within sessions this deployment started,
    /// under their session budget. Default false, so the earlier system's sessionless /query keeps working.
    /// </summary>
    public bool RequireSession { get; set; }

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
