using Microsoft.Extensions.Logging;
using SessionTracking.Storage;

namespace SessionTracking.Sessions;

/// <summary>The session grain's log messages, and the mapping of an adapter's stray exception to the port's failure.</summary>
internal static partial class SessionLog
{
    /// <summary>A store call whose failures reach the caller as the port's types (<see cref="AsPortFailure"/>).</summary>
    public static async Task<T> CallStoreAsync<T>(ILogger logger, string sessionId, Func<Task<T>> call)
    {
        try
        {
            return await call();
        }
        catch (Exception ex) when (ex is not (StoreUnavailableException or StoreConflictException))
        {
            throw AsPortFailure(logger, sessionId, ex);
        }
    }

    // The names are the grain's own from before this class (the generated event ids hash them): keep them.
    /// <summary>
    /// The port's two failure types pass as they are. Anything else an adapter lets through (a driver error it does not
    /// map, a bug) is answered like an unavailable store, 503 and retry, never a 500 or a hang; it is logged here with
    /// its cause, which does not cross the grain boundary (the gateway may not know the driver's exception types).
    /// </summary>
    public static Exception AsPortFailure(ILogger logger, string sessionId, Exception ex)
    {
        if (ex is StoreUnavailableException or StoreConflictException)
        {
            return ex;
        }

        LogUnexpectedStoreFailure(logger, ex, sessionId, ex.GetType().Name);
        return new StoreUnavailableException($"The session store failed ({ex.GetType().Name}); nothing in this request was stored. Retry.");
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Session {SessionId}: flushed {Count} events in {ElapsedMs:F2} ms")]
    public static partial void LogFlushed(ILogger logger, string sessionId, int count, double elapsedMs);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Session {SessionId}: flush of {Count} events failed")]
    public static partial void LogFlushFailed(ILogger logger, Exception exception, string sessionId, int count);

    [LoggerMessage(Level = LogLevel.Error, Message = "Session {SessionId}: flush on deactivation failed, {Count} buffered events not stored")]
    public static partial void LogDeactivationFlushFailed(ILogger logger, Exception exception, string sessionId, int count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Session {SessionId}: another activation kept writing it; the request is answered as unavailable")]
    public static partial void LogConflictUnresolved(ILogger logger, Exception exception, string sessionId);

    [LoggerMessage(Level = LogLevel.Error, Message = "Session {SessionId}: the store threw {ExceptionType}, which its adapter should have mapped; answered as unavailable")]
    public static partial void LogUnexpectedStoreFailure(ILogger logger, Exception exception, string sessionId, string exceptionType);

    [LoggerMessage(Level = LogLevel.Information, Message = "Session {SessionId}: ended after idle timeout")]
    public static partial void LogIdleEnded(ILogger logger, string sessionId);
}
