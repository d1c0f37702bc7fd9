using MongoDB.Driver;

namespace SessionTracking.Storage.Mongo;

/// <summary>
/// Runs a unit of work in one multi-document transaction when the deployment supports it
/// (<see cref="MongoStoreOptions.UseTransactions"/>), else its steps in order without a session. The driver retries
/// transient errors (write conflicts) with the whole transaction; this also reruns it when two transactions raced to
/// create the same aggregate document. The work is run anew on each attempt, so it must build what it writes inside.
/// The options are required (<see cref="MongoConnection.Transaction"/>): a transaction without them commits with the
/// connection string's or the server's default write concern, not the configured one.
/// </summary>
internal static class MongoTransactions
{
    private const int MaxAttempts = 10;

    public static async Task<T> RunAsync<T>(
        IMongoClient client,
        bool useTransactions,
        TransactionOptions transactionOptions,
        Func<IClientSessionHandle?, CancellationToken, Task<T>> work,
        CancellationToken cancellationToken)
    {
        if (!useTransactions)
        {
            return await work(null, cancellationToken);
        }

        for (var attempt = 1; ; attempt++)
        {
            using var session = await client.StartSessionAsync(cancellationToken: cancellationToken);
            try
            {
                return await session.WithTransactionAsync((s, ct) => work(s, ct), transactionOptions, cancellationToken);
            }
            catch (AggregateWriteRaceException ex)
            {
                if (attempt >= MaxAttempts)
                {
                    throw new StoreUnavailableException("An experiment aggregate kept being created by concurrent transactions.", ex);
                }
            }
        }
    }
}
