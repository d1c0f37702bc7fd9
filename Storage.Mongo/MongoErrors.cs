using MongoDB.Driver;

namespace SessionTracking.Storage.Mongo;

/// <summary>
/// The adapter boundary: whatever the driver or the BSON layer throws leaves as one of the port's two types, because
/// the grain treats those, and only those, as a failed write it can answer and retry.
/// <list type="bullet">
/// <item>Duplicate key (11000, in a write, command or bulk write error): <see cref="StoreConflictException"/> — a seq
/// another activation already stored, or a session that exists. (Duplicates on aggregate documents are retried inside,
/// see <see cref="MongoReadModelWriter"/>.)</item>
/// <item><see cref="StoreConflictException"/> raised inside (a summary compare-and-set miss, a bucket already extended)
/// and <see cref="StoreUnavailableException"/> pass unchanged.</item>
/// <item>Cancellation by the caller's own token passes unchanged.</item>
/// <item>Everything else — network, timeouts (<c>timeoutMS</c>, <c>wtimeout</c>), no primary, write concern errors,
/// <c>UnknownTransactionCommitResult</c> (the outcome is unknown: the flush may have committed), serialization and
/// mapping errors of a stored document — <see cref="StoreUnavailableException"/>, 503 with Retry-After.</item>
/// </list>
/// </summary>
internal static class MongoErrors
{
    private const int DuplicateKey = 11000;

    /// <summary>
    /// Runs <paramref name="operation"/> with a token that also fires after <paramref name="timeout"/> (infinite: none):
    /// the driver honours it in server selection, connection checkout, socket reads and a transaction's commit retries,
    /// so no call waits longer, and the timeout leaves as <see cref="StoreUnavailableException"/>.
    /// </summary>
    public static async Task<T> Guard<T>(Func<CancellationToken, Task<T>> operation, string store, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var limited = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        if (timeout != Timeout.InfiniteTimeSpan)
        {
            limited.CancelAfter(timeout);
        }

        try
        {
            return await operation(limited.Token);
        }
        catch (Exception ex) when (Map(ex, store, cancellationToken) is { } mapped)
        {
            throw mapped;
        }
    }

    /// <summary>The port's exception for <paramref name="ex"/>, or null when it passes unchanged.</summary>
    public static Exception? Map(Exception ex, string store, CancellationToken cancellationToken) => ex switch
    {
        StoreConflictException or StoreUnavailableException => null,
        OperationCanceledException when cancellationToken.IsCancellationRequested => null,
        _ when IsDuplicateKey(ex) => new StoreConflictException("A document with the same key is already stored.", ex),
        OperationCanceledException => new StoreUnavailableException($"The {store} did not answer within its operation timeout.", ex),
        MongoException m when m.HasErrorLabel("UnknownTransactionCommitResult") =>
            new StoreUnavailableException($"The {store} could not confirm a commit; it may or may not have been stored.", ex),
        _ => new StoreUnavailableException($"The {store} is unavailable ({ex.GetType().Name}).", ex),
    };

    public static bool IsDuplicateKey(Exception ex) => ex switch
    {
        MongoWriteException w => w.WriteError?.Code == DuplicateKey,
        MongoBulkWriteException b => b.WriteErrors.Any(e => e.Code == DuplicateKey),
        MongoCommandException c => c.Code == DuplicateKey,
        _ => false,
    };
}
