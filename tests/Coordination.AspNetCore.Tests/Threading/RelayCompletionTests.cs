using System.Collections.Concurrent;
using Coordination.Threading;

namespace Coordination.Tests.Threading;

/// <summary>The relay that wakes a flight's waiting callers and a shared body's followers one work item at a time.</summary>
public sealed class RelayCompletionTests
{
    [Fact]
    public async Task TrySetResult_EveryWaiter_LearnsTheResult_AndLaterWaitersAtOnce()
    {
        var completion = new RelayCompletion<int>();
        var waiters = Enumerable.Range(0, 50).Select(_ => completion.WaitAsync()).ToList();
        Assert.False(completion.TryGetResult(out _));

        Assert.True(completion.TrySetResult(7));
        Assert.False(completion.TrySetResult(8));

        Assert.All(await Task.WhenAll(waiters).DefaultTimeout(), result => Assert.Equal(7, result));
        Assert.True(completion.WaitAsync().IsCompletedSuccessfully);
        Assert.Equal(7, await completion.WaitAsync());
        Assert.True(completion.TryGetResult(out var result));
        Assert.Equal(7, result);
    }

    [Fact]
    public async Task AWaiterThatStoppedWaiting_DoesNotBreakTheRelay()
    {
        var completion = new RelayCompletion<int>();
        using var leaving = new CancellationTokenSource();
        var before = completion.WaitAsync();
        var left = completion.WaitAsync().WaitAsync(leaving.Token);
        var after = completion.WaitAsync();

        await leaving.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => left);
        completion.TrySetResult(1);

        Assert.Equal(1, await before.DefaultTimeout());
        Assert.Equal(1, await after.DefaultTimeout());
    }

    [Fact]
    public async Task EachWaiter_PassesTheRelayOn_BeforeItResumes()
    {
        // The first waiter's continuation holds its thread until the second one has resumed: that can only happen if
        // the second was queued before the first resumed.
        var completion = new RelayCompletion<int>();
        using var secondResumed = new ManualResetEventSlim();
        var first = completion.WaitAsync().ContinueWith(_ => secondResumed.Wait(TimeSpan.FromSeconds(30)), TaskContinuationOptions.ExecuteSynchronously);
        var second = completion.WaitAsync().ContinueWith(_ => secondResumed.Set(), TaskContinuationOptions.ExecuteSynchronously);

        completion.TrySetResult(1);

        Assert.True(await first.DefaultTimeout());
        await second.DefaultTimeout();
    }

    [Fact]
    public async Task WorkQueuedAfterTheResult_IsNotHeldBehindEveryWaiter()
    {
        // A task completed for 200 waiters queues all 200 at once; work queued a moment later runs after all of them.
        // Relayed, it waits behind at most a few. The waiters hold until that work is queued, so that a test thread
        // descheduled between the two calls cannot make the relay look slow.
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

        completion.TrySetResult(1);
        ThreadPool.UnsafeQueueUserWorkItem(
            _ =>
            {
                order.Enqueue("other");
                other.SetResult();
            },
            null);
        otherQueued.Set();

        await other.Task.DefaultTimeout();
        await Task.WhenAll(waiters).DefaultTimeout();
        var position = order.ToList().IndexOf("other");
        Assert.InRange(position, 0, Waiters / 2);
    }
}
