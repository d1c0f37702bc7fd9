namespace SessionTracking.Budgets;

/// <summary>One session's <see cref="SpendingBudget"/>, in memory; created full by the first call's limits.</summary>
public sealed class QueryBudgetGrain(TimeProvider clock) : Grain, IQueryBudgetGrain
{
    private SpendingBudget? _budget;

    public ValueTask<BudgetDecision> TryTakeAsync(BudgetLimits limits) => ValueTask.FromResult(For(limits).TryTake(limits));

    public ValueTask ChargeAsync(BudgetLimits limits, long tokens)
    {
        For(limits).Charge(limits, tokens);
        return ValueTask.CompletedTask;
    }

    private SpendingBudget For(BudgetLimits limits) => _budget ??= new SpendingBudget(limits, clock);
}
