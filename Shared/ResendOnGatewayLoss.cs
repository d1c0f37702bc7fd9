using Microsoft.Extensions.Logging;

namespace SessionTracking;

/// <summary>
/// Resends an idempotent grain call when the Orleans client loses a silo gateway connection while the call is in flight.
/// </summary>
/// <remarks>
/// The Orleans client sends a grain's calls through one silo gateway connection; when that connection closes (the silo
/// died, or <see cref="FreshGatewayListProvider"/> left a frozen silo out of the gateway list), calls already sent on it
/// are not failed or resent by Orleans: each waits for its response timeout (2 s for writes). A gateway in client mode
/// learns of the lost connection through <see cref="IClusterConnectionStatusObserver"/>, after Orleans has switched
/// routing to the remaining gateways, and resends then, through a live connection. Only calls whose resend cannot
/// store anything twice may be passed here (every event carries a client id: the session grain drops ids it already
/// holds and answers them once durable). In a co-hosted gateway no connection is ever lost: calls pass straight through.
/// </remarks>
public sealed partial class ResendOnGatewayLoss(ILogger<ResendOnGatewayLoss> logger) : IClusterConnectionStatusObserver
{
    private TaskCompletionSource _nextLoss = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private bool _observing;

    /// <summary>Completes when a gateway connection is lost after this moment.</summary>
    public Task NextLoss => Volatile.Read(ref _nextLoss).Task;

    /// <summary>
    /// Runs <paramref name="call"/>; if a gateway connection is lost before it answers, runs it once more and answers
    /// with whichever of the two succeeds first (the first, if it succeeds before the resend answers).
    /// </summary>
    public ValueTask<T> CallAsync<TState, T>(TState state, Func<TState, ValueTask<T>> call)
    {
        if (!_observing)
        {
            return call(state); // no connection this process reports on can be lost: nothing to wait for
        }

        var loss = NextLoss;
        var pending = call(state);
        return pending.IsCompletedSuccessfully ? pending : WaitOrResendAsync(pending.AsTask(), loss, state, call);
    }

    private static async ValueTask<T> WaitOrResendAsync<TState, T>(Task<T> first, Task loss, TState state, Func<TState, ValueTask<T>> call)
    {
        if (await Task.WhenAny(first, loss) == first)
        {
            return await first;
        }

        var resent = call(state).AsTask();
        if (await Task.WhenAny(first, resent) == first && first.IsCompletedSuccessfully)
        {
            Observe(resent);
            return first.Result;
        }

        Observe(first);
        return await resent;
    }

    /// <summary>
    /// Marks this instance as the Orleans client's connection observer (client mode). Until then, as in a co-hosted gateway
    /// whose calls cross no gateway connection, <see cref="CallAsync"/> passes calls straight through.
    /// </summary>
    public ResendOnGatewayLoss ObserveConnections()
    {
        _observing = true;
        return this;
    }

    void IClusterConnectionStatusObserver.NotifyGatewayCountChanged(int currentNumberOfGateways, int previousNumberOfGateways, bool connectionRecovered)
    {
        if (currentNumberOfGateways < previousNumberOfGateways)
        {
            LogGatewayLost(logger, previousNumberOfGateways, currentNumberOfGateways);
            SignalLoss();
        }
    }

    void IClusterConnectionStatusObserver.NotifyClusterConnectionLost() => SignalLoss();

    private void SignalLoss() =>
        Interlocked.Exchange(ref _nextLoss, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();

    /// <summary>The answer of the call not used is not needed, but its failure (a timeout) must not go unobserved.</summary>
    private static void Observe(Task task) => task.ContinueWith(static t => _ = t.Exception, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously);

    [LoggerMessage(Level = LogLevel.Information, Message = "Silo gateway connections: {Previous} -> {Current}; idempotent calls in flight are resent through the remaining gateways")]
    private static partial void LogGatewayLost(ILogger logger, int previous, int current);
}
