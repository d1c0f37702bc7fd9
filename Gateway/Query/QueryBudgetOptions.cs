using System.ComponentModel.DataAnnotations;

namespace SessionTracking.Gateway.Query;

/// <summary>
/// The model budgets of /query and /query/stream, section <c>Query:Budgets</c>: requests and tokens (prompt and
/// answer) per window, per session and per client address; 0 turns a limit off. The defaults are per minute and sized
/// for people, not scripts: a person reads an answer before asking again, and a full prompt (Query:MaxPromptLength,
/// about 8,000 tokens) with a full answer (Query:MaxOutputTokens) still fits a session's minute several times over.
/// </summary>
public sealed class QueryBudgetOptions
{
    public const string SectionName = "Query:Budgets";
    private const string Message = "Query:Budgets:{0} must be between {1} and {2}.";

    /// <summary>Length of the window the limits below are per, in seconds. Default 60 (the limits are per minute).</summary>
    [Range(1, 86_400, ErrorMessage = Message)]
    public int WindowSeconds { get; set; } = 60;

    /// <summary>Queries per session and window. Default 20 (one every 3 s, faster than anyone reads an answer).</summary>
    [Range(0, 1_000_000, ErrorMessage = Message)]
    public int SessionRequestsPerWindow { get; set; } = 20;

    /// <summary>Tokens per session and window. Default 40,000 (four full prompts with full answers).</summary>
    [Range(0, 1_000_000_000, ErrorMessage = Message)]
    public long SessionTokensPerWindow { get; set; } = 40_000;

    /// <summary>Queries per client address and window, sessions or not. Default 120: several people behind one address (an office's NAT).</summary>
    [Range(0, 1_000_000, ErrorMessage = Message)]
    public int AddressRequestsPerWindow { get; set; } = 120;

    /// <summary>Tokens per client address and window. Default 200,000 (five sessions' worth).</summary>
    [Range(0, 1_000_000_000, ErrorMessage = Message)]
    public long AddressTokensPerWindow { get; set; } = 200_000;
}
