using SessionTracking.Budgets;
using SessionTracking.TestSupport;

namespace SessionTracking.Gateway.Tests;

/// <summary>The arithmetic of a model budget on a manual clock: refill, overdraft by tokens, Retry-After, limits off.</summary>
[TestCategory("BVT")]
public sealed class SpendingBudgetTests
{
    private readonly ManualClock _clock = new();

    [Fact]
    public void Requests_refill_continuously_and_Retry_After_is_the_time_to_the_next_one()
    {
        var limits = new BudgetLimits(RequestsPerWindow: 2, TokensPerWindow: 0, WindowSeconds: 60);
        var budget = new SpendingBudget(limits, _clock);

        Assert.True(budget.TryTake(limits).IsAdmitted);
        Assert.True(budget.TryTake(limits).IsAdmitted);
        Assert.Equal(new BudgetDecision(BudgetExceeded.Requests, 30), budget.TryTake(limits));

        _clock.Advance(TimeSpan.FromSeconds(20));
        Assert.Equal(new BudgetDecision(BudgetExceeded.Requests, 10), budget.TryTake(limits));
        _clock.Advance(TimeSpan.FromSeconds(10));
        Assert.True(budget.TryTake(limits).IsAdmitted);
    }

    [Fact]
    public void Tokens_charged_after_an_answer_may_overdraw_and_refuse_until_refilled()
    {
        var limits = new BudgetLimits(RequestsPerWindow: 0, TokensPerWindow: 1_000, WindowSeconds: 60);
        var budget = new SpendingBudget(limits, _clock);

        Assert.True(budget.TryTake(limits).IsAdmitted);
        budget.Charge(limits, 1_299); // 299 over: back above zero after (299 + 1) × 60 / 1000 = 18 s
        Assert.Equal(new BudgetDecision(BudgetExceeded.Tokens, 18), budget.TryTake(limits));

        _clock.Advance(TimeSpan.FromSeconds(18));
        Assert.True(budget.TryTake(limits).IsAdmitted);
        Assert.False(budget.IsFull(limits));
        _clock.Advance(TimeSpan.FromSeconds(60));
        Assert.True(budget.IsFull(limits)); // a full budget is no different from a new one: the gateway may forget it
    }

    [Fact]
    public void Limits_set_to_zero_never_refuse_and_leave_the_budget_full()
    {
        var off = new BudgetLimits(0, 0, 60);
        var budget = new SpendingBudget(off, _clock);

        for (var i = 0; i < 1_000; i++)
        {
            Assert.True(budget.TryTake(off).IsAdmitted);
            budget.Charge(off, 10_000);
        }

        Assert.True(budget.IsFull(off));
    }

    private sealed class ManualClock : TimeProvider
    {
        private long _ticks;

        public override long TimestampFrequency => TimeSpan.TicksPerSecond;

        public override long GetTimestamp() => _ticks;

        public void Advance(TimeSpan by) => _ticks += by.Ticks;
    }
}
