using System.Runtime.CompilerServices;
using SessionTracking.Storage;

namespace SessionTracking.Analytics;

/// <summary>
/// Streams one export from the store's cursor; Orleans pulls it in batches as the gateway writes the response.
/// One activation per export (fresh key), gone once the export ends.
/// </summary>
public sealed class ExportGrain(IAnalyticsStore store) : Grain, IExportGrain
{
    public IAsyncEnumerable<ExportSession> ExportSessionsAsync(AnalyticsFilter filter) =>
        DeactivateWhenDone(store.ExportSessionsAsync(filter, CancellationToken.None));

    public IAsyncEnumerable<ExportEvent> ExportEventsAsync(AnalyticsFilter filter) =>
        DeactivateWhenDone(store.ExportEventsAsync(filter, CancellationToken.None));

    private async IAsyncEnumerable<T> DeactivateWhenDone<T>(IAsyncEnumerable<T> rows, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        try
        {
            await foreach (var row in rows.WithCancellation(cancellationToken))
            {
                yield return row;
            }
        }
        finally
        {
            DeactivateOnIdle();
        }
    }
}
