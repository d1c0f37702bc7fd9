namespace SessionTracking.Budgets;

/// <summary>
/// A session's model budget (/query and /query/stream), keyed by the session id: one per session whichever gateway a
/// query comes through. Kept apart from <see cref="ISessionGrain"/> so that the session's event path stays as it is;
/// in memory only: a new activation (after the idle collection or a silo's loss) starts with a full budget.
/// The gateway sends its configured limits with each call, so the silo needs no configuration of its own.
/// </summary>
[Alias("SessionTracking.IQueryBudgetGrain")]
public interface IQueryBudgetGrain : IGrainWithStringKey
{
    /// <summary>Takes one request before the model is called.</summary>
    [Alias("TryTake"), ResponseTimeout(ISessionGrain.WriteTimeout)]
    ValueTask<BudgetDecision> TryTakeAsync(BudgetLimits limits);

    /// <summary>Charges the tokens of an answer, after the model answered.</summary>
    [Alias("Charge"), ResponseTimeout(ISessionGrain.WriteTimeout)]
    ValueTask ChargeAsync(BudgetLimits limits, long tokens);
}
