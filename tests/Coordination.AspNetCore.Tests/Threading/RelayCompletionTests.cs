using System.Collections.Concurrent;
using Coordination.Threading;

namespace Coordination.Tests.Threading;

/// <summary>The relay that wakes a flight's waiting callers and a shared body's followers a few work items at a time.</summary>
public sealed class RelayCompletionTests
{
    [Fact]
    public async Task TrySetResult_EveryWaiter_LearnsTheResult_AndLaterWaitersAtOnce()
    {
        var completion = new RelayCompletion<int>();
        var waiters = Enumerable.Range(0, 50).Select(_ => completion.WaitAsync()).ToList();
        Assert.False(completion.TryGetResult(out _));
        Assert.Equal(50, completion.Waiting);

        Assert.True(completion.TrySetResult(7));
        Assert.False(completion.TrySetResult(8));

        Assert.All(await Task.WhenAll(waiters).DefaultTimeout(), result => Assert.Equal(7, result));
        Assert.True(completion.WaitAsync().IsCompletedSuccessfully);
        Assert.Equal(7, await completion.WaitAsync());
        Assert.True(completion.TryGetResult(out var result));
        Assert.Equal(7, result);
        Assert.Equal(0, completion.Waiting);
    }

    [Fact]
    public async Task AWaiterWhoseTokenIsCancelled_LeavesTheLine_AndTheOthersStillLearnTheResult()
    {
        var completion = new RelayCompletion<int>();
        using var leaving = new CancellationTokenSource();
        var first = completion.WaitAsync();
        var left = completion.WaitAsync(leaving.Token);
        var last = completion.WaitAsync();

        await leaving.CancelAsync();
        var canceled = await Assert.ThrowsAnyAsync<OperationCanceledException>(() => left);
        Assert.Equal(leaving.Token, canceled.CancellationToken);
        Assert.Equal(2, completion.Waiting);

        completion.TrySetResult(1);
        Assert.Equal(1, await first.DefaultTimeout());
        Assert.Equal(1, await last.DefaultTimeout());
        Assert.True(left.IsCanceled);
    }

    [Fact]
    public async Task ATokenCancelledBefore_GetsACancelledTask_AndNoPlace()
    {
        var completion = new RelayCompletion<int>();
        using var canceled = new CancellationTokenSource();
        await canceled.CancelAsync();

        Assert.True(completion.WaitAsync(canceled.Token).IsCanceled);
        Assert.Equal(0, completion.Waiting);
    }

    [Fact]
    public async Task ATokenCancelledAfterTheResult_DoesNotCancelTheWait()
    {
        // Ten thousand waiters take a while to relay: most are still in line when the token fires, and get the result.
        var completion = new RelayCompletion<int>();
        using var late = new CancellationTokenSource();
        var waiters = Enumerable.Range(0, 10_000).Select(_ => completion.WaitAsync(late.Token)).ToList();

        completion.TrySetResult(3);
        await late.CancelAsync();

        Assert.All(await Task.WhenAll(waiters).DefaultTimeout(), result => Assert.Equal(3, result));
    }

    [Fact]
    public async Task WaitersAndCancellationsRacingTheResult_EachWaiterLearnsItOrIsCancelled()
    {
        for (var round = 0; round < 200; round++)
        {
            var completion = new RelayCompletion<int>();
            using var leaving = new CancellationTokenSource();
            using var start = new Barrier(4);
            var waiting = Enumerable.Range(0, 2).Select(w => Task.Run(() =>
            {
                Assert.True(start.SignalAndWait(TestTimeouts.Default));
                return Enumerable.Range(0, 20).Select(i => completion.WaitAsync(i % 2 == 0 ? leaving.Token : CancellationToken.None)).ToList();
            })).ToList();
            var canceling = Task.Run(() =>
            {
                Assert.True(start.SignalAndWait(TestTimeouts.Default));
                leaving.Cancel();
            });

            Assert.True(start.SignalAndWait(TestTimeouts.Default));
            completion.TrySetResult(round);
            await canceling.DefaultTimeout();
            var tasks = (await Task.WhenAll(waiting).DefaultTimeout()).SelectMany(t => t).ToList();
            await Task.WhenAll(tasks.Select(t => t.ContinueWith(_ => { }, TaskScheduler.Default))).DefaultTimeout();

            Assert.Equal(40, tasks.Count);
            Assert.All(tasks, task => Assert.True(task.IsCanceled || (task.IsCompletedSuccessfully && task.Result == round)));
            Assert.All(tasks.Where((_, i) => i % 20 % 2 == 1), task => Assert.Equal(round, task.Result));
            Assert.Equal(0, completion.Waiting);
        }
    }

    [Fact]
    public async Task EachWaiter_PassesItsRelayOn_BeforeItResumes()
    {
        // One relay per processor: waiter 0 hands on to waiter P. Waiter 0's continuation holds its thread until waiter
        // P has resumed, which can only happen if waiter P was queued before waiter 0 resumed.
        var relays = Environment.ProcessorCount;
        var completion = new RelayCompletion<int>();
        using var handedOn = new ManualResetEventSlim();
        var first = completion.WaitAsync().ContinueWith(_ => handedOn.Wait(TimeSpan.FromSeconds(30)), TaskContinuationOptions.ExecuteSynchronously);
        var others = Enumerable.Range(1, relays)
            .Select(i => completion.WaitAsync().ContinueWith(_ => { if (i == relays) handedOn.Set(); }, TaskContinuationOptions.ExecuteSynchronously))
            .ToList();

        completion.TrySetResult(1);

        Assert.True(await first.DefaultTimeout());
        await Task.WhenAll(others).DefaultTimeout();
    }

    [Fact]
    public async Task TrySetResult_QueuesAFewWaitersAtATime_NotEveryOne()
    {
        // 200 waiters queued at once would be ahead of any work queued a moment later, the next request's among them.
        // Relayed, one waiter per relay is queued at a time: each queues the next before it resumes, and here each
        // then holds its thread until the count is taken, so the relays cannot run ahead of the count either.
        const int Waiters = 200;
        var completion = new RelayCompletion<int>();
        using var counted = new ManualResetEventSlim();
        var waiters = Enumerable.Range(0, Waiters)
            .Select(_ => completion.WaitAsync().ContinueWith(_ => Assert.True(counted.Wait(TestTimeouts.Default)), TaskContinuationOptions.ExecuteSynchronously))
            .ToList();

        var pendingBefore = ThreadPool.PendingWorkItemCount;
        completion.TrySetResult(1);
        var queued = ThreadPool.PendingWorkItemCount - pendingBefore;
        counted.Set();

        await Task.WhenAll(waiters).DefaultTimeout();
        Assert.True(queued <= Waiters / 2, $"{queued} waiters were queued at once.");
    }
}
