using SessionTracking.Sessions;
using SessionTracking.Storage;
using SessionTracking.TestSupport;

namespace SessionTracking.Grains.Tests;

/// <summary>
/// The session's group commit on its own, without a cluster: one write at a time, callers during a write share the next
/// one, a failed write fails its waiters (and, acked, the ones behind it) and stops until called again.
/// </summary>
[TestCategory("BVT")]
public sealed class GroupCommitTests
{
    [Fact]
    public async Task Callers_during_a_write_share_the_next_one()
    {
        var target = new FakeTarget();
        var commit = new GroupCommit(target);

        target.Add(1);
        var first = commit.FlushAsync();
        Assert.Equal(1, target.WritesStarted); // written at once

        // Three callers while the first write is held: their events go in one second write.
        var waiting = Enumerable.Range(2, 3).Select(e =>
        {
            target.Add(e);
            return commit.FlushAsync();
        }).ToList();
        Assert.Equal(1, target.WritesStarted);
        Assert.False(first.IsCompleted);

        target.Release(2);
        await first;
        await Task.WhenAll(waiting);
        Assert.Equal([[1], [2, 3, 4]], target.Written);
        Assert.True(SpinWait.SpinUntil(() => target.Idle == 1, TimeSpan.FromSeconds(10))); // waiters may run before the loop ends
    }

    [Fact]
    public async Task Nothing_pending_completes_at_once_or_with_the_write_in_flight()
    {
        var target = new FakeTarget();
        var commit = new GroupCommit(target);
        Assert.True(commit.FlushAsync().IsCompletedSuccessfully);

        target.Add(1);
        var first = commit.FlushAsync();
        var nothingNew = commit.FlushAsync(); // nothing pending: waits for what is in flight
        Assert.False(nothingNew.IsCompleted);
        target.Release();
        await Task.WhenAll(first, nothingNew);
        Assert.Single(target.Written);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_failed_write_fails_its_waiters_and_acked_the_ones_behind_it(bool failsWaitersBehind)
    {
        var target = new FakeTarget { FailsWaitersBehind = failsWaitersBehind, FailNext = true };
        var commit = new GroupCommit(target);

        target.Add(1);
        var failed = commit.FlushAsync();
        target.Add(2);
        var behind = commit.FlushAsync();
        target.Release();

        var error = await Assert.ThrowsAsync<StoreUnavailableException>(() => failed);
        Assert.Equal("mapped", error.Message); // what the target's failure handling returned, not the raw exception
        Assert.True(SpinWait.SpinUntil(() => target.Idle == 1, TimeSpan.FromSeconds(10))); // the loop stops after a failure
        if (failsWaitersBehind)
        {
            await Assert.ThrowsAsync<StoreUnavailableException>(() => behind);
            Assert.Equal(1, target.WritesStarted);
        }
        else
        {
            // Buffered: the waiters behind stay for the next flush (a timer calls it), which writes what is pending.
            Assert.False(behind.IsCompleted);
            var retry = commit.FlushAsync();
            target.Release();
            await Task.WhenAll(behind, retry);
            Assert.Equal([[1, 2]], target.Written); // the failed write's events back in front
        }
    }

    [Fact]
    public async Task Waiters_failed_by_a_deletion_fail_and_the_write_in_flight_completes()
    {
        var target = new FakeTarget();
        var commit = new GroupCommit(target);
        target.Add(1);
        var first = commit.FlushAsync();
        target.Add(2);
        var behind = commit.FlushAsync();

        target.Clear();
        commit.FailWaiting(new StoreUnavailableException("deleted"));
        await Assert.ThrowsAsync<StoreUnavailableException>(() => behind);
        Assert.NotNull(commit.InFlight);
        target.Release();
        await first;
        Assert.Equal([[1]], target.Written); // the deleted session's pending events were never written
    }

    /// <summary>Events are ints; each write waits until the test releases it.</summary>
    private sealed class FakeTarget : IFlushTarget
    {
        private readonly List<int> _pending = [];
        private readonly SemaphoreSlim _gate = new(0);
        private int _idle;
        private readonly Dictionary<SessionFlush, int[]> _events = new(ReferenceEqualityComparer.Instance);

        public List<int[]> Written { get; } = [];

        public int WritesStarted { get; private set; }

        public int Idle => Volatile.Read(ref _idle);

        public bool FailNext { get; set; }

        public bool FailsWaitersBehind { get; init; } = true;

        public bool HasPending => _pending.Count > 0;

        public void Add(int e) => _pending.Add(e);

        public void Clear() => _pending.Clear();

        public void Release(int writes = 1) => _gate.Release(writes);

        public SessionFlush TakePending()
        {
            var flush = new SessionFlush($"s{WritesStarted}", [], [], [], null);
            _events[flush] = [.. _pending];
            _pending.Clear();
            return flush;
        }

        public async Task WriteAsync(SessionFlush flush)
        {
            WritesStarted++;
            await _gate.WaitAsync();
            if (FailNext)
            {
                FailNext = false;
                throw new InvalidOperationException("raw");
            }
        }

        public void OnWritten(SessionFlush flush) => Written.Add(_events[flush]);

        public Task<Exception> OnFailedAsync(SessionFlush flush, Exception exception)
        {
            if (!FailsWaitersBehind)
            {
                _pending.InsertRange(0, _events[flush]); // buffered: put back in front
            }

            return Task.FromResult<Exception>(new StoreUnavailableException("mapped"));
        }

        public void OnIdle() => Interlocked.Increment(ref _idle);
    }
}
