using Microsoft.Extensions.Logging.Abstractions;
using SessionTracking.TestSupport;

namespace SessionTracking.Grains.Tests;

[TestCategory("BVT")]
public sealed class ResendOnGatewayLossTests
{
    private readonly ResendOnGatewayLoss _resend = new ResendOnGatewayLoss(NullLogger<ResendOnGatewayLoss>.Instance).ObserveConnections();

    private IClusterConnectionStatusObserver Observer => _resend;

    [Fact]
    public async Task A_call_that_answers_is_sent_once()
    {
        var sends = 0;
        Assert.Equal(7, await _resend.CallAsync(0, _ => ValueTask.FromResult(7 + (sends++ * 100))));
        Observer.NotifyGatewayCountChanged(1, 2, connectionRecovered: false);
        Assert.Equal(1, sends);
    }

    [Fact]
    public async Task A_call_in_flight_when_a_gateway_connection_closes_is_resent_and_answered_by_the_resend()
    {
        var stuck = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        var sends = 0;
        var call = _resend.CallAsync(stuck, pending => ++sends == 1 ? new ValueTask<int>(pending.Task) : ValueTask.FromResult(2)).AsTask();
        Assert.False(call.IsCompleted);

        Observer.NotifyGatewayCountChanged(2, 1, connectionRecovered: false); // a connection opened: nothing to resend
        await Task.Delay(50);
        Assert.Equal(1, sends);

        Observer.NotifyGatewayCountChanged(1, 2, connectionRecovered: false);
        Assert.Equal(2, await call.WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.Equal(2, sends);

        stuck.SetException(new TimeoutException("the first attempt's response timeout")); // observed, not thrown
    }

    [Fact]
    public async Task When_the_first_attempt_answers_before_the_resend_its_answer_is_used()
    {
        var first = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        var resent = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        var sends = 0;
        var call = _resend.CallAsync(0, _ => new ValueTask<int>(++sends == 1 ? first.Task : resent.Task)).AsTask();

        Observer.NotifyClusterConnectionLost();
        while (Volatile.Read(ref sends) < 2)
        {
            await Task.Delay(10);
        }

        first.SetResult(1);
        Assert.Equal(1, await call.WaitAsync(TimeSpan.FromSeconds(5)));
        resent.SetResult(2);
    }

    [Fact]
    public async Task When_the_first_attempt_fails_after_the_resend_started_the_resend_answers()
    {
        var first = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        var resent = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        var sends = 0;
        var call = _resend.CallAsync(0, _ => new ValueTask<int>(++sends == 1 ? first.Task : resent.Task)).AsTask();

        Observer.NotifyGatewayCountChanged(0, 1, connectionRecovered: false);
        while (Volatile.Read(ref sends) < 2)
        {
            await Task.Delay(10);
        }

        first.SetException(new TimeoutException());
        await Task.Delay(50);
        Assert.False(call.IsCompleted);
        resent.SetResult(2);
        Assert.Equal(2, await call.WaitAsync(TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public async Task Without_client_connections_to_observe_a_call_is_sent_once_even_across_a_loss()
    {
        IClusterConnectionStatusObserver coHosted = new ResendOnGatewayLoss(NullLogger<ResendOnGatewayLoss>.Instance);
        var pending = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        var sends = 0;
        var call = ((ResendOnGatewayLoss)coHosted).CallAsync(pending, p => { sends++; return new ValueTask<int>(p.Task); }).AsTask();

        coHosted.NotifyClusterConnectionLost();
        await Task.Delay(50);
        pending.SetResult(3);

        Assert.Equal(3, await call.WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.Equal(1, sends);
    }

    [Fact]
    public async Task A_loss_before_the_call_started_does_not_resend_it()
    {
        Observer.NotifyGatewayCountChanged(1, 2, connectionRecovered: false);
        var pending = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        var sends = 0;
        var call = _resend.CallAsync(pending, p => { sends++; return new ValueTask<int>(p.Task); }).AsTask();
        await Task.Delay(50);
        pending.SetResult(3);
        Assert.Equal(3, await call);
        Assert.Equal(1, sends);
    }
}
