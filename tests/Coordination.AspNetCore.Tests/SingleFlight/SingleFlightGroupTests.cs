using System.Diagnostics;
using Coordination.SingleFlight;
using Microsoft.Extensions.Time.Testing;

namespace Coordination.Tests.SingleFlight;

public sealed class SingleFlightGroupTests
{
    [Fact]
    public async Task RunAsync_ConcurrentCallers_ShareOneExecutionAndValue()
    {
        var group = new SingleFlightGroup<string, object>();
        var gate = new TaskCompletionSource<object>(TaskCreationOptions.RunContinuationsAsynchronously);
        var executions = 0;

        var callers = Enumerable.Range(0, 100)
            .Select(_ => group.RunAsync("k", _ => { Interlocked.Increment(ref executions); return gate.Task; }))
            .ToArray();
        var value = new object();
        gate.SetResult(value);
        var results = await Task.WhenAll(callers).DefaultTimeout();

        Assert.Equal(1, executions);
        Assert.All(results, r => Assert.Same(value, r));
        Assert.Equal(0, group.Count);
    }

    [Fact]
    public async Task RunAsync_DifferentKeys_RunSeparately()
    {
        var group = new SingleFlightGroup<int, int>();
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        var a = group.RunAsync(1, async _ => { await gate.Task; return 1; });
        var b = group.RunAsync(2, async _ => { await gate.Task; return 2; });
        Assert.Equal(2, group.Count);
        gate.SetResult();

        Assert.Equal(1, await a.DefaultTimeout());
        Assert.Equal(2, await b.DefaultTimeout());
    }

    [Fact]
    public async Task RunAsync_LeaderFails_LeaderGetsOwnExceptionFollowersGetWrapped()
    {
        var group = new SingleFlightGroup<string, int>();
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var boom = new InvalidOperationException("boom");

        var leader = group.RunAsync("k", async _ => { await gate.Task; throw boom; });
        var followers = Enumerable.Range(0, 3).Select(_ => group.RunAsync("k", _ => Task.FromResult(42))).ToArray();
        gate.SetResult();

        var leaderError = await Assert.ThrowsAsync<InvalidOperationException>(() => leader).DefaultTimeout();
        Assert.Same(boom, leaderError);
        foreach (var follower in followers)
        {
            var error = await Assert.ThrowsAsync<SingleFlightLeaderFailedException>(() => follower).DefaultTimeout();
            Assert.Same(boom, error.InnerException);
        }

        // Failures are not cached: the next call runs again.
        Assert.Equal(7, await group.RunAsync("k", _ => Task.FromResult(7)).DefaultTimeout());
    }

    [Fact]
    public async Task RunAsync_WorkThrowsSynchronously_IsAFaultedFlight()
    {
        var group = new SingleFlightGroup<string, int>();
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        Task<int> leader = group.RunAsync("k", _ => throw new FormatException("sync"));
        var error = await Assert.ThrowsAsync<FormatException>(() => leader).DefaultTimeout();
        Assert.Equal("sync", error.Message);
        Assert.Equal(0, group.Count);

        // With a follower waiting, the follower gets the wrapped exception.
        var slowLeader = group.RunAsync("j", async _ => { started.SetResult(); await gate.Task; throw new FormatException("late"); });
        var follower = group.RunAsync("j", _ => Task.FromResult(1));
        await started.Task.DefaultTimeout();
        gate.SetResult();
        await Assert.ThrowsAsync<FormatException>(() => slowLeader).DefaultTimeout();
        var wrapped = await Assert.ThrowsAsync<SingleFlightLeaderFailedException>(() => follower).DefaultTimeout();
        Assert.IsType<FormatException>(wrapped.InnerException);
    }

    [Fact]
    public async Task RunAsync_LeaderCancelled_OldestFollowerRunsItsOwnWorkAndOthersJoinIt()
    {
        var group = new SingleFlightGroup<string, string>();
        using var leaderCts = new CancellationTokenSource();
        var followerRuns = new List<string>();
        var leaderStarted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        var leader = group.RunAsync("k", async ct => { leaderStarted.SetResult(); await Task.Delay(Timeout.Infinite, ct); return "leader"; }, leaderCts.Token);
        var first = group.RunAsync("k", _ => { lock (followerRuns) { followerRuns.Add("first"); } return Task.FromResult("first"); });
        var second = group.RunAsync("k", _ => { lock (followerRuns) { followerRuns.Add("second"); } return Task.FromResult("second"); });
        await leaderStarted.Task.DefaultTimeout();

        leaderCts.Cancel();

        var canceled = await Assert.ThrowsAnyAsync<OperationCanceledException>(() => leader).DefaultTimeout();
        Assert.Equal(leaderCts.Token, canceled.CancellationToken);
        Assert.Equal("first", await first.DefaultTimeout());
        Assert.Equal("first", await second.DefaultTimeout());
        Assert.Equal(["first"], followerRuns);
    }

    [Fact]
    public async Task RunAsync_WorkEndsInCancellationWithoutLeaderToken_PromotesFollower()
    {
        var group = new SingleFlightGroup<string, int>();
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        var leader = group.RunAsync("k", async _ => { await gate.Task; throw new OperationCanceledException("abandoned"); });
        var follower = group.RunAsync("k", _ => Task.FromResult(5));
        gate.SetResult();

        var error = await Assert.ThrowsAsync<OperationCanceledException>(() => leader).DefaultTimeout();
        Assert.Equal("abandoned", error.Message);
        Assert.Equal(5, await follower.DefaultTimeout());
    }

    [Fact]
    public async Task RunWithoutRetryAsync_LeaderCancelled_FollowerGetsLeaderDropped()
    {
        var group = new SingleFlightGroup<string, int>();
        using var leaderCts = new CancellationTokenSource();
        var followerRan = false;

        var leader = group.RunAsync("k", async ct => { await Task.Delay(Timeout.Infinite, ct); return 1; }, leaderCts.Token);
        var follower = group.RunWithoutRetryAsync("k", _ => { followerRan = true; return Task.FromResult(2); });
        leaderCts.Cancel();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => leader).DefaultTimeout();
        await Assert.ThrowsAsync<SingleFlightLeaderDroppedException>(() => follower).DefaultTimeout();
        Assert.False(followerRan);
        Assert.Equal(0, group.Count);
    }

    [Fact]
    public async Task RunAsync_PromotionsPastMaxPromotions_FollowersGetLeaderDropped()
    {
        var group = new SingleFlightGroup<string, int>(new SingleFlightGroupOptions { MaxPromotions = 1 });
        using var leaderCts = new CancellationTokenSource();
        using var promotedCts = new CancellationTokenSource();
        var promotedStarted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var lastRan = false;

        var leader = group.RunAsync("k", async ct => { await Task.Delay(Timeout.Infinite, ct); return 0; }, leaderCts.Token);
        var promoted = group.RunAsync("k", async ct => { promotedStarted.SetResult(); await Task.Delay(Timeout.Infinite, ct); return 1; }, promotedCts.Token);
        var last = group.RunAsync("k", _ => { lastRan = true; return Task.FromResult(2); });

        leaderCts.Cancel();
        await promotedStarted.Task.DefaultTimeout();
        promotedCts.Cancel();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => leader).DefaultTimeout();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => promoted).DefaultTimeout();
        await Assert.ThrowsAsync<SingleFlightLeaderDroppedException>(() => last).DefaultTimeout();
        Assert.False(lastRan);
    }

    [Fact]
    public async Task RunAsync_FollowerCancels_OnlyThatFollowerStopsWithItsOwnToken()
    {
        var group = new SingleFlightGroup<string, int>();
        var gate = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var followerCts = new CancellationTokenSource();

        var leader = group.RunAsync("k", _ => gate.Task);
        var quitter = group.RunAsync("k", _ => Task.FromResult(-1), followerCts.Token);
        var stayer = group.RunAsync("k", _ => Task.FromResult(-1));

        followerCts.Cancel();
        var canceled = await Assert.ThrowsAnyAsync<OperationCanceledException>(() => quitter).DefaultTimeout();
        Assert.Equal(followerCts.Token, canceled.CancellationToken);
        Assert.False(leader.IsCompleted);

        gate.SetResult(9);
        Assert.Equal(9, await leader.DefaultTimeout());
        Assert.Equal(9, await stayer.DefaultTimeout());
    }

    [Fact]
    public async Task RunAsync_CancelledFlightFinishingLate_DoesNotRemoveItsSuccessor()
    {
        // HybridCache's race: the abandoned flight's cleanup removed the new flight by key, so a third caller ran the work a third time.
        var group = new SingleFlightGroup<string, string>();
        var executions = 0;
        var lateGate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var secondGate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var firstCts = new CancellationTokenSource();

        // The first work ignores its token and finishes late.
        var first = group.RunAsync("k", async _ => { Interlocked.Increment(ref executions); await lateGate.Task; return "first"; }, firstCts.Token);
        firstCts.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => first).DefaultTimeout();

        var second = group.RunAsync("k", async _ => { Interlocked.Increment(ref executions); await secondGate.Task; return "second"; });
        lateGate.SetResult();
        var third = group.RunAsync("k", _ => { Interlocked.Increment(ref executions); return Task.FromResult("third"); });
        secondGate.SetResult();

        Assert.Equal("second", await second.DefaultTimeout());
        Assert.Equal("second", await third.DefaultTimeout());
        Assert.Equal(2, executions);
        Assert.Equal(0, group.Count);
    }

    [Fact]
    public async Task Forget_InFlight_NextCallStartsNewExecutionWhileWaitersKeepTheirs()
    {
        var group = new SingleFlightGroup<string, int>();
        var firstGate = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        var secondGate = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);

        var first = group.RunAsync("k", _ => firstGate.Task);
        var firstFollower = group.RunAsync("k", _ => Task.FromResult(-1));
        Assert.True(group.Forget("k"));
        Assert.False(group.Forget("k"));
        var second = group.RunAsync("k", _ => secondGate.Task);
        var secondFollower = group.RunAsync("k", _ => Task.FromResult(-1));

        firstGate.SetResult(1);
        Assert.Equal(1, await first.DefaultTimeout());
        Assert.Equal(1, await firstFollower.DefaultTimeout());
        Assert.False(second.IsCompleted);
        Assert.Equal(1, group.Count);

        secondGate.SetResult(2);
        Assert.Equal(2, await second.DefaultTimeout());
        Assert.Equal(2, await secondFollower.DefaultTimeout());
        Assert.Equal(0, group.Count);
    }

    [Fact]
    public async Task Timeout_Passes_CancelsWorkFailsWaitersAndFreesKeyAtOnce()
    {
        var time = new FakeTimeProvider();
        var group = new SingleFlightGroup<string, int>(new SingleFlightGroupOptions { Timeout = TimeSpan.FromSeconds(5) }, timeProvider: time);
        var workCanceled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        var leader = group.RunAsync("k", async ct =>
        {
            ct.Register(() => workCanceled.SetResult());
            await Task.Delay(Timeout.Infinite, CancellationToken.None).WaitAsync(ct);
            return 1;
        });
        var follower = group.RunAsync("k", _ => Task.FromResult(-1));

        time.Advance(TimeSpan.FromSeconds(4));
        Assert.False(leader.IsCompleted);
        time.Advance(TimeSpan.FromSeconds(1));

        await Assert.ThrowsAsync<TimeoutException>(() => leader).DefaultTimeout();
        await Assert.ThrowsAsync<TimeoutException>(() => follower).DefaultTimeout();
        await workCanceled.Task.DefaultTimeout();
        Assert.Equal(0, group.Count);
        Assert.Equal(3, await group.RunAsync("k", _ => Task.FromResult(3)).DefaultTimeout());
    }

    [Fact]
    public async Task LastCallerCancels_LeaderLeaves_WorkGoesOnForFollowers()
    {
        var group = new SingleFlightGroup<string, int>(new SingleFlightGroupOptions { WorkCancellation = SingleFlightWorkCancellation.LastCallerCancels });
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var leaderCts = new CancellationTokenSource();
        var executions = 0;

        var leader = group.RunAsync("k", async ct => { Interlocked.Increment(ref executions); await gate.Task.WaitAsync(ct); return 11; }, leaderCts.Token);
        var follower = group.RunAsync("k", _ => { Interlocked.Increment(ref executions); return Task.FromResult(-1); });
        leaderCts.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => leader).DefaultTimeout();

        gate.SetResult();
        Assert.Equal(11, await follower.DefaultTimeout());
        Assert.Equal(1, executions);
    }

    [Fact]
    public async Task LastCallerCancels_EveryCallerLeaves_WorkIsCancelledAndKeyFreed()
    {
        var group = new SingleFlightGroup<string, int>(new SingleFlightGroupOptions { WorkCancellation = SingleFlightWorkCancellation.LastCallerCancels });
        var workCanceled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var a = new CancellationTokenSource();
        using var b = new CancellationTokenSource();

        var leader = group.RunAsync("k", async ct => { ct.Register(() => workCanceled.TrySetResult()); await Task.Delay(Timeout.Infinite, ct); return 1; }, a.Token);
        var follower = group.RunAsync("k", _ => Task.FromResult(-1), b.Token);
        a.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => leader).DefaultTimeout();
        Assert.False(workCanceled.Task.IsCompleted);

        b.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => follower).DefaultTimeout();
        await workCanceled.Task.DefaultTimeout();
        Assert.Equal(0, group.Count);
        Assert.Equal(2, await group.RunAsync("k", _ => Task.FromResult(2)).DefaultTimeout());
    }

    [Fact]
    public async Task RunAsync_WorkSeesLeadersAsyncLocalAndActivity()
    {
        var group = new SingleFlightGroup<string, string>();
        var local = new AsyncLocal<string>();
        using var activity = new Activity("leader-request").Start();
        local.Value = "leader-context";
        string? seenLocal = null;
        Activity? seenActivity = null;

        await group.RunAsync("k", async _ =>
        {
            await Task.Yield();
            seenLocal = local.Value;
            seenActivity = Activity.Current;
            return "done";
        }).DefaultTimeout();

        Assert.Equal("leader-context", seenLocal);
        Assert.NotNull(seenActivity);
        var ancestor = seenActivity;
        while (ancestor is not null && ancestor != activity)
        {
            ancestor = ancestor.Parent;
        }

        Assert.Same(activity, ancestor);
    }

    [Fact]
    public async Task RunAsync_MillionDistinctKeys_LeavesEmptyTable()
    {
        var group = new SingleFlightGroup<int, int>();
        for (var i = 0; i < 1_000_000; i++)
        {
            var value = await group.RunAsync(i, static _ => Task.FromResult(1));
            Assert.Equal(1, value);
        }

        Assert.Equal(0, group.Count);
        Assert.Equal(0, group.PurgeStale());
    }

    [Fact]
    public async Task MaxKeys_Reached_NewKeysRunUncoalescedExistingKeysStillJoin()
    {
        var group = new SingleFlightGroup<string, int>(new SingleFlightGroupOptions { MaxKeys = 1 });
        var gate = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        var otherExecutions = 0;

        var held = group.RunAsync("a", _ => gate.Task);
        var joiner = group.RunAsync("a", _ => Task.FromResult(-1));
        var b1 = group.RunAsync("b", _ => Task.FromResult(Interlocked.Increment(ref otherExecutions)));
        var b2 = group.RunAsync("b", _ => Task.FromResult(Interlocked.Increment(ref otherExecutions)));

        Assert.Equal(2, (await b1) + (await b2) - 1);
        Assert.Equal(2, otherExecutions);
        gate.SetResult(5);
        Assert.Equal(5, await joiner.DefaultTimeout());
        Assert.Equal(5, await held.DefaultTimeout());
    }

    [Fact]
    public void Constructor_InvalidOptions_ThrowsNamingTheOption()
    {
        var error = Assert.Throws<ArgumentException>(() => new SingleFlightGroup<string, int>(new SingleFlightGroupOptions { MaxPromotions = -1 }));
        Assert.Contains("MaxPromotions", error.Message);
        Assert.Contains("-1", error.Message);

        error = Assert.Throws<ArgumentException>(() => new SingleFlightGroup<string, int>(new SingleFlightGroupOptions { Timeout = TimeSpan.Zero }));
        Assert.Contains("Timeout", error.Message);

        error = Assert.Throws<ArgumentException>(() => new SingleFlightGroup<string, int>(new SingleFlightGroupOptions { MaxKeys = 0 }));
        Assert.Contains("MaxKeys", error.Message);
    }

    [Fact]
    public async Task RunAsync_AlreadyCancelledToken_ReturnsCanceledWithoutRunning()
    {
        var group = new SingleFlightGroup<string, int>();
        var ran = false;
        var task = group.RunAsync("k", _ => { ran = true; return Task.FromResult(1); }, new CancellationToken(canceled: true));

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => task);
        Assert.False(ran);
        Assert.Equal(0, group.Count);
    }

    [Fact]
    public async Task PromotedFollower_RunsItsWorkInTheContextItJoinedFrom()
    {
        var group = new SingleFlightGroup<string, string>();
        var local = new AsyncLocal<string>();
        using var leaderCts = new CancellationTokenSource();
        var leaderStarted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        local.Value = "leader";
        var leader = group.RunAsync("k", async ct => { leaderStarted.SetResult(); await Task.Delay(Timeout.Infinite, ct); return "never"; }, leaderCts.Token);
        await leaderStarted.Task.DefaultTimeout();
        var follower = Task.Run(() =>
        {
            local.Value = "follower";
            return group.RunAsync("k", _ => Task.FromResult(local.Value));
        });
        Gate(() => group.WaitingCallers == 2);
        leaderCts.Cancel();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => leader).DefaultTimeout();
        Assert.Equal("follower", await follower.DefaultTimeout());
    }

    [Fact]
    public async Task CallAfterCompletion_StartsANewExecution()
    {
        var group = new SingleFlightGroup<string, int>();
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        var first = group.RunAsync("k", async _ => { await gate.Task; return 1; });
        gate.SetResult();
        Assert.Equal(1, await first.DefaultTimeout());

        Assert.Equal(2, await group.RunAsync("k", _ => Task.FromResult(2)).DefaultTimeout());
    }

    [Fact]
    public async Task LeaderWithoutTokenWhoseWorkIsCancelled_PromotesAWaiterWithAToken()
    {
        var group = new SingleFlightGroup<string, int>();
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var followerCts = new CancellationTokenSource();

        var leader = group.RunAsync("k", async _ => { await gate.Task; throw new OperationCanceledException(); });
        var follower = group.RunAsync("k", _ => Task.FromResult(4), followerCts.Token);
        gate.SetResult();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => leader).DefaultTimeout();
        Assert.Equal(4, await follower.DefaultTimeout());
        Assert.Equal(0, group.Count);
    }

    private static void Gate(Func<bool> condition) => Assert.True(SpinWait.SpinUntil(condition, TestTimeouts.Default));
}
