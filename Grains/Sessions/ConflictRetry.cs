using Microsoft.Extensions.Logging;
using SessionTracking.Storage;
using SessionTracking.Telemetry;

namespace SessionTracking.Sessions;

internal static class ConflictRetry
{
    /// <summary>
    /// Runs a call that writes. When another activation of this session wrote first, the failed flush has reloaded the
    /// session from the store and acknowledged nothing, so the call runs once more: dedup and numbering start afresh
    /// from what the store holds. A second conflict becomes a <see cref="StoreUnavailableException"/> (503, retry):
    /// the store's conflict exception never crosses the grain boundary.
    /// </summary>
    public static async ValueTask<T> OnceMoreAsync<TTarget, TState, T>(TTarget target, ILogger logger, string sessionId, TState state, Func<TTarget, TState, ValueTask<T>> call)
    {
        try
        {
            return await call(target, state);
        }
        catch (StoreConflictException)
        {
            SessionMetrics.ConflictRetries.Add(1);
        }

        try
        {
            return await call(target, state);
        }
        catch (StoreConflictException ex)
        {
            SessionLog.LogConflictUnresolved(logger, ex, sessionId);
            throw new StoreUnavailableException("Another activation of this session wrote it concurrently; nothing in this request was stored. Retry.");
        }
    }
}
