using System.Collections.Concurrent;
using System.Globalization;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using SessionTracking.Budgets;
using SessionTracking.Gateway.Http;
using SessionTracking.Gateway.Security;

namespace SessionTracking.Gateway.Query;

/// <summary>
/// The model budgets (<see cref="QueryBudgetOptions"/>): admits a query before the model is called, charges its
/// tokens after the answer. A session's budget lives in its <see cref="IQueryBudgetGrain"/>, one per session across
/// all gateways; a client address's budget lives in this gateway process, so N gateways behind a balancer allow an
/// address N times its budget (the per-address limit is a backstop; the session budget is the exact one).
/// </summary>
internal sealed partial class ModelBudgets : IDisposable
{
    private readonly ConcurrentDictionary<string, SpendingBudget> _addresses = new(StringComparer.Ordinal);
    private readonly IGrainFactory _grains;
    private readonly TimeProvider _clock;
    private readonly ILogger<ModelBudgets> _logger;
    private readonly bool _trustForwardedFor;
    private readonly BudgetLimits _address;
    private readonly BudgetLimits _session;
    private readonly ITimer _sweep;

    public ModelBudgets(IOptions<QueryBudgetOptions> options, IOptions<SecurityOptions> security, IGrainFactory grains, TimeProvider clock, ILogger<ModelBudgets> logger)
    {
        var budgets = options.Value;
        (_grains, _clock, _logger, _trustForwardedFor) = (grains, clock, logger, security.Value.TrustForwardedFor);
        _address = new BudgetLimits(budgets.AddressRequestsPerWindow, budgets.AddressTokensPerWindow, budgets.WindowSeconds);
        _session = new BudgetLimits(budgets.SessionRequestsPerWindow, budgets.SessionTokensPerWindow, budgets.WindowSeconds);
        var window = TimeSpan.FromSeconds(budgets.WindowSeconds);
        _sweep = clock.CreateTimer(static state => ((ModelBudgets)state!).DropFullBudgets(), this, window, window);
    }

    /// <summary>Takes one request from the address's and then the session's budget; the 429 problem when either is spent.</summary>
    public async ValueTask<ProblemHttpResult?> TryAdmitAsync(HttpContext context, string? sessionId)
    {
        if (IsOn(_address))
        {
            var budget = Address(context);
            BudgetDecision decision;
            lock (budget)
            {
                decision = budget.TryTake(_address);
            }

            if (!decision.IsAdmitted)
            {
                return Refused(context.Response, decision, "client address", decision.Exceeded == BudgetExceeded.Tokens ? "AddressTokensPerWindow" : "AddressRequestsPerWindow");
            }
        }

        if (sessionId is not null && IsOn(_session)
            && await _grains.GetGrain<IQueryBudgetGrain>(sessionId).TryTakeAsync(_session) is { IsAdmitted: false } refused)
        {
            return Refused(context.Response, refused, "session", refused.Exceeded == BudgetExceeded.Tokens ? "SessionTokensPerWindow" : "SessionRequestsPerWindow");
        }

        return null;
    }

    /// <summary>Charges an answer's tokens to both budgets, so that the next request sees the spend.</summary>
    public async ValueTask ChargeAsync(HttpContext context, string? sessionId, long tokens)
    {
        if (_address.TokensPerWindow > 0)
        {
            // GetOrAdd: an answer streamed for longer than a window may find its address swept, and must still be charged.
            var budget = Address(context);
            lock (budget)
            {
                budget.Charge(_address, tokens);
            }
        }

        if (sessionId is not null && _session.TokensPerWindow > 0)
        {
            await _grains.GetGrain<IQueryBudgetGrain>(sessionId).ChargeAsync(_session, tokens);
        }
    }

    /// <summary>
    /// The tokens an answer cost: the provider's counts, or where it reported none an estimate of one token per four
    /// characters (OpenAI's rule of thumb for English) of the prompt and of the answer.
    /// </summary>
    public static long Tokens(string prompt, ModelAnswer answer) =>
        (answer.Usage.InputTokens ?? Estimate(prompt.Length)) + (answer.Usage.OutputTokens ?? Estimate(answer.Text.Length));

    public void Dispose() => _sweep.Dispose();

    private static long Estimate(int characters) => (characters + 3L) / 4;

    private SpendingBudget Address(HttpContext context) =>
        _addresses.GetOrAdd(RateLimits.ClientKey(context, _trustForwardedFor), static (_, self) => new SpendingBudget(self._address, self._clock), this);

    private static bool IsOn(BudgetLimits limits) => limits.RequestsPerWindow > 0 || limits.TokensPerWindow > 0;

    private ProblemHttpResult Refused(HttpResponse response, BudgetDecision decision, string scope, string setting)
    {
        LogBudgetExceeded(_logger, scope, setting, decision.RetryAfterSeconds);
        response.Headers.RetryAfter = decision.RetryAfterSeconds.ToString(CultureInfo.InvariantCulture);
        var spent = decision.Exceeded == BudgetExceeded.Tokens ? "tokens" : "requests";
        return Problems.Create(
            StatusCodes.Status429TooManyRequests,
            "Model budget exceeded",
            $"This {scope} has spent its model {spent} (Query:Budgets:{setting}); retry after the Retry-After delay.");
    }

    /// <summary>
    /// Forgets addresses whose budget has refilled (no different from a new one), so the table holds only the
    /// addresses of the last window. A request racing the removal may go uncounted once; that is the price of no lock.
    /// </summary>
    private void DropFullBudgets()
    {
        foreach (var (address, budget) in _addresses)
        {
            bool full;
            lock (budget)
            {
                full = budget.IsFull(_address);
            }

            if (full)
            {
                _addresses.TryRemove(address, out _);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "A query was refused: its {Scope} is over Query:Budgets:{Setting}; retry in {RetryAfterSeconds} s")]
    private static partial void LogBudgetExceeded(ILogger logger, string scope, string setting, int retryAfterSeconds);
}
