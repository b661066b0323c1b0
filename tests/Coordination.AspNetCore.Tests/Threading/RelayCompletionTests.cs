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
    public async Task WaitersRacingTheResult_AllLearnIt()
    {
        for (var round = 0; round < 200; round++)
        {
            var completion = new RelayCompletion<int>();
            using var start = new Barrier(3);
            var waiting = Enumerable.Range(0, 2).Select(_ => Task.Run(() =>
            {
                start.SignalAndWait();
                return Enumerable.Range(0, 20).Select(_ => completion.WaitAsync(CancellationToken.None)).ToList();
            })).ToList();

            start.SignalAndWait();
            completion.TrySetResult(round);
            var results = await Task.WhenAll((await Task.WhenAll(waiting)).SelectMany(tasks => tasks)).DefaultTimeout();
            Assert.Equal(40, results.Length);
            Assert.All(results, result => Assert.Equal(round, result));
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
    public async Task WorkQueuedAfterTheResult_IsNotHeldBehindEveryWaiter()
    {
        // 200 waiters queued at once on the pool's global queue would all run before work queued a moment later.
        // Relayed, that work waits behind a few. The result is set from a thread outside the pool (as the test runner
        // may or may not be), and the waiters hold until the work is queued, so that a thread descheduled between the
        // two calls cannot make the relay look slow.
        const int Waiters = 200;
        var completion = new RelayCompletion<int>();
        var order = new ConcurrentQueue<string>();
        using var otherQueued = new ManualResetEventSlim();
        var waiters = Enumerable.Range(0, Waiters)
            .Select(_ => completion.WaitAsync().ContinueWith(
                _ =>
                {
                    Assert.True(otherQueued.Wait(TimeSpan.FromSeconds(30)));
                    order.Enqueue("waiter");
                },
                TaskContinuationOptions.ExecuteSynchronously))
            .ToList();
        var other = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        var setter = new Thread(() =>
        {
            completion.TrySetResult(1);
            ThreadPool.UnsafeQueueUserWorkItem(
                _ =>
                {
                    order.Enqueue("other");
                    other.SetResult();
                },
                null);
            otherQueued.Set();
        });
        setter.Start();

        await other.Task.DefaultTimeout();
        await Task.WhenAll(waiters).DefaultTimeout();
        setter.Join();
        var position = order.ToList().IndexOf("other");
        Assert.InRange(position, 0, Waiters / 2);
    }
}
