using Coordination.Batching;
using Microsoft.Extensions.Time.Testing;

namespace Coordination.Tests.Batching;

public sealed class BatchProcessorTests
{
    [Fact]
    public async Task GroupCommit_CallersArrivingDuringTheLoad_ShareOneLoadAndOneSave()
    {
        var store = new TestStore();
        await using var processor = new BatchProcessor<Counter>(store.Options());
        store.HoldLoads();

        var first = processor.RunAsync("k", c => Increment(c, 0));
        Wait(() => store.LoadsStarted == 1);
        var others = Enumerable.Range(1, 49).Select(i => processor.RunAsync("k", c => Increment(c, i))).ToList();
        store.ReleaseLoads();
        await Task.WhenAll(others.Append(first)).DefaultTimeout();

        Assert.Equal(1, store.Loads);
        Assert.Equal(1, store.Saves);
        Assert.Equal(50, store.Durable["k"]);
        Assert.Equal(Enumerable.Range(0, 50), store.SavedBatches.Single());
    }

    [Fact]
    public async Task GroupCommit_OperationsArrivingDuringTheSave_FormTheNextBatch()
    {
        var store = new TestStore();
        await using var processor = new BatchProcessor<Counter>(store.Options());
        store.HoldSaves();

        var first = processor.RunAsync("k", c => Increment(c, 1));
        Wait(() => store.SavesStarted == 1);
        var second = processor.RunAsync("k", c => Increment(c, 2));
        var third = processor.RunAsync("k", c => Increment(c, 3));
        Assert.Equal(1, store.LoadsStarted);
        store.ReleaseSaves();
        await Task.WhenAll(first, second, third).DefaultTimeout();

        Assert.Equal(2, store.Loads);
        Assert.Equal(2, store.Saves);
        Assert.Equal([[1], [2, 3]], store.SavedBatches);
        Assert.Equal(3, store.Durable["k"]);
    }

    [Fact]
    public async Task Window_KeepsAcceptingUntilMinDurationThenSaves()
    {
        var time = new FakeTimeProvider();
        var store = new TestStore();
        await using var processor = new BatchProcessor<Counter>(store.Options(o => o.MinDuration = TimeSpan.FromMilliseconds(100)), time);

        var first = processor.RunAsync("k", c => Increment(c, 1));
        Wait(() => store.Loads == 1);
        time.Advance(TimeSpan.FromMilliseconds(60));
        var second = processor.RunAsync("k", c => Increment(c, 2));
        Assert.False(first.IsCompleted);
        time.Advance(TimeSpan.FromMilliseconds(40));
        await Task.WhenAll(first, second).DefaultTimeout();
        var third = processor.RunAsync("k", c => Increment(c, 3));
        Wait(() => store.Loads == 2);
        time.Advance(TimeSpan.FromMilliseconds(100));
        await third.DefaultTimeout();

        Assert.Equal([[1, 2], [3]], store.SavedBatches);
    }

    [Fact]
    public async Task MaxBatchSize_ClosesBatchesEarly()
    {
        var store = new TestStore();
        await using var processor = new BatchProcessor<Counter>(store.Options(o => o.MaxBatchSize = 2));
        store.HoldLoads();

        var calls = Enumerable.Range(1, 5).Select(i => processor.RunAsync("k", c => Increment(c, i))).ToList();
        store.ReleaseLoads();
        await Task.WhenAll(calls).DefaultTimeout();

        Assert.Equal([[1, 2], [3, 4], [5]], store.SavedBatches);
        Assert.Equal(3, store.Loads);
    }

    [Fact]
    public async Task RunAsyncWithResult_ReturnsTheOperationsResultAfterTheSave()
    {
        var store = new TestStore();
        await using var processor = new BatchProcessor<Counter>(store.Options());
        store.HoldSaves();

        var result = processor.RunAsync("k", c => ++c.Value);
        Wait(() => store.SavesStarted == 1);
        Assert.False(result.IsCompleted);
        store.ReleaseSaves();

        Assert.Equal(1, await result.DefaultTimeout());
    }

    [Fact]
    public async Task LoadFails_EveryWaitingCallerGetsBatchAbortedOnce_AndTheNextBatchLoadsAfresh()
    {
        var store = new TestStore();
        await using var processor = new BatchProcessor<Counter>(store.Options());
        var cause = new InvalidOperationException("database down");
        store.HoldLoads();
        store.LoadFailure = cause;
        var ran = 0;

        var calls = Enumerable.Range(0, 20).Select(_ => processor.RunAsync("k", _ => Interlocked.Increment(ref ran))).ToList();
        store.ReleaseLoads();
        foreach (var call in calls)
        {
            var error = await Assert.ThrowsAsync<BatchAbortedException>(() => call).DefaultTimeout();
            Assert.Same(cause, error.InnerException);
        }

        Assert.Equal(1, store.Loads);
        Assert.Equal(0, ran);
        store.LoadFailure = null;
        await processor.RunAsync("k", c => Increment(c, 1)).DefaultTimeout();
        Assert.Equal(2, store.Loads);
        Assert.Equal(1, store.Durable["k"]);
    }

    [Fact]
    public async Task SaveFails_EveryCallerOfTheBatchGetsBatchAborted_NothingIsKept()
    {
        var store = new TestStore();
        await using var processor = new BatchProcessor<Counter>(store.Options());
        store.HoldLoads();
        store.SaveFailure = new IOException("disk full");

        var calls = Enumerable.Range(1, 3).Select(i => processor.RunAsync("k", c => Increment(c, i))).ToList();
        store.ReleaseLoads();
        foreach (var call in calls)
        {
            var error = await Assert.ThrowsAsync<BatchAbortedException>(() => call).DefaultTimeout();
            Assert.IsType<IOException>(error.InnerException);
        }

        store.SaveFailure = null;
        await processor.RunAsync("k", c => Increment(c, 4)).DefaultTimeout();
        Assert.Equal(1, store.Durable["k"]);
        Assert.Equal([[4]], store.SavedBatches);
    }

    [Fact]
    public async Task OperationThrows_OnlyItsCallerFails_AndTheBatchSaves()
    {
        var store = new TestStore();
        await using var processor = new BatchProcessor<Counter>(store.Options());
        store.HoldLoads();
        var invalid = new ArgumentException("rejected by validation");

        var before = processor.RunAsync("k", c => Increment(c, 1));
        var failing = processor.RunAsync("k", new Action<Counter>(_ => throw invalid));
        var after = processor.RunAsync("k", c => Increment(c, 3));
        store.ReleaseLoads();

        Assert.Same(invalid, await Assert.ThrowsAsync<ArgumentException>(() => failing).DefaultTimeout());
        await Task.WhenAll(before, after).DefaultTimeout();
        Assert.Equal([[1, 3]], store.SavedBatches);
    }

    [Fact]
    public async Task CancelledBeforeItsOperationRan_GetsOperationCanceled_AndTheOperationNeverRuns_ThousandTimes()
    {
        var store = new TestStore();
        await using var processor = new BatchProcessor<Counter>(store.Options());
        var cancelledRuns = 0;
        var inconsistent = 0;

        for (var i = 0; i < 1000; i++)
        {
            store.HoldLoads();
            using var withdrawn = new CancellationTokenSource();
            using var racing = new CancellationTokenSource();
            var anchor = processor.RunAsync("k", c => Increment(c, 0));
            var preCancelled = processor.RunAsync("k", _ => Interlocked.Increment(ref cancelledRuns), new CancellationToken(canceled: true));
            var queued = processor.RunAsync("k", _ => Interlocked.Increment(ref cancelledRuns), withdrawn.Token);
            var raceRan = false;
            var race = processor.RunAsync("k", _ => raceRan = true, racing.Token);

            withdrawn.Cancel();
            var release = Task.Run(store.ReleaseLoads);
            racing.Cancel();
            await release;
            await anchor.DefaultTimeout();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => preCancelled);
            var canceled = await Assert.ThrowsAnyAsync<OperationCanceledException>(() => queued).DefaultTimeout();
            Assert.Equal(withdrawn.Token, canceled.CancellationToken);

            // Whichever way the race went, a cancelled caller never had its operation run, and a completed one did.
            var raceOutcome = await race.ContinueWith(t => t.Status, TaskScheduler.Default).DefaultTimeout();
            if ((raceOutcome == TaskStatus.Canceled) == raceRan)
            {
                inconsistent++;
            }
        }

        Assert.Equal(0, cancelledRuns);
        Assert.Equal(0, inconsistent);
    }

    [Fact]
    public async Task MaxDuration_PassesDuringTheSave_AbortsTheBatch()
    {
        var time = new FakeTimeProvider();
        var store = new TestStore();
        await using var processor = new BatchProcessor<Counter>(store.Options(o => o.MaxDuration = TimeSpan.FromSeconds(1)), time);
        store.HoldSaves();

        var call = processor.RunAsync("k", c => Increment(c, 1));
        Wait(() => store.SavesStarted == 1);
        time.Advance(TimeSpan.FromSeconds(1));

        var error = await Assert.ThrowsAsync<BatchAbortedException>(() => call).DefaultTimeout();
        Assert.IsType<TimeoutException>(error.InnerException);
        Assert.Equal(0, store.Saves);
    }

    [Fact]
    public async Task MaxDuration_PassesDuringTheLoad_AbortsEveryWaitingCaller()
    {
        var time = new FakeTimeProvider();
        var store = new TestStore();
        await using var processor = new BatchProcessor<Counter>(store.Options(o => o.MaxDuration = TimeSpan.FromSeconds(1)), time);
        store.HoldLoads();

        var calls = Enumerable.Range(1, 3).Select(i => processor.RunAsync("k", c => Increment(c, i))).ToList();
        Wait(() => store.LoadsStarted == 1);
        time.Advance(TimeSpan.FromSeconds(1));

        foreach (var call in calls)
        {
            var error = await Assert.ThrowsAsync<BatchAbortedException>(() => call).DefaultTimeout();
            Assert.IsType<TimeoutException>(error.InnerException);
        }

        Assert.Equal(0, store.SavesStarted);
    }

    [Fact]
    public async Task MaxPendingPerKey_RejectsFastWithoutQueueing()
    {
        var store = new TestStore();
        await using var processor = new BatchProcessor<Counter>(store.Options(o => o.MaxPendingPerKey = 2));
        store.HoldLoads();
        var rejectedRan = false;

        var a = processor.RunAsync("k", c => Increment(c, 1));
        var b = processor.RunAsync("k", c => Increment(c, 2));
        var rejected = processor.RunAsync("k", _ => rejectedRan = true);
        var otherKey = processor.RunAsync("j", c => Increment(c, 9));

        await Assert.ThrowsAsync<BatchQueueFullException>(() => rejected).DefaultTimeout();
        store.ReleaseLoads();
        await Task.WhenAll(a, b, otherKey).DefaultTimeout();
        Assert.False(rejectedRan);
    }

    [Fact]
    public async Task SlowKey_NeverDelaysAnotherKey()
    {
        var store = new TestStore();
        var slowLoad = new TaskCompletionSource<Counter>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var processor = new BatchProcessor<Counter>(store.Options(o => o.LoadResource = (key, ct) =>
            key == "slow" ? new ValueTask<Counter>(slowLoad.Task.WaitAsync(ct)) : store.LoadAsync(key, ct)));

        var slow = processor.RunAsync("slow", c => Increment(c, 1));
        await processor.RunAsync("fast", c => Increment(c, 2)).DefaultTimeout();
        await processor.RunAsync("fast", c => Increment(c, 3)).DefaultTimeout();

        Assert.False(slow.IsCompleted);
        Assert.Equal(2, store.Durable["fast"]);
        slowLoad.SetResult(new Counter());
        await slow.DefaultTimeout();
    }

    [Fact]
    public async Task WorkerForKey_PinsKeysThatShareAWorker()
    {
        var store = new TestStore();
        var slowLoadStarted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var slowLoad = new TaskCompletionSource<Counter>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var processor = new BatchProcessor<Counter>(store.Options(o =>
        {
            o.Workers = 2;
            o.WorkerForKey = (key, _) => key == "other-worker" ? 1 : 0;
            o.LoadResource = (key, ct) =>
            {
                if (key != "slow")
                {
                    return store.LoadAsync(key, ct);
                }

                slowLoadStarted.TrySetResult();
                return new ValueTask<Counter>(slowLoad.Task.WaitAsync(ct));
            };
        }));

        var slow = processor.RunAsync("slow", c => Increment(c, 1));
        await slowLoadStarted.Task.DefaultTimeout();
        var sameWorker = processor.RunAsync("same-worker", c => Increment(c, 2));
        await processor.RunAsync("other-worker", c => Increment(c, 3)).DefaultTimeout();
        Assert.False(sameWorker.IsCompleted);

        slowLoad.SetResult(new Counter());
        await Task.WhenAll(slow, sameWorker).DefaultTimeout();
    }

    [Fact]
    public async Task Operations_RunOneAtATimeInArrivalOrder()
    {
        var store = new TestStore();
        await using var processor = new BatchProcessor<Counter>(store.Options());
        store.HoldLoads();
        var running = 0;
        var overlapped = false;

        var calls = Enumerable.Range(0, 200).Select(i => processor.RunAsync("k", c =>
        {
            overlapped |= Interlocked.Increment(ref running) > 1;
            Increment(c, i);
            Interlocked.Decrement(ref running);
        })).ToList();
        store.ReleaseLoads();
        await Task.WhenAll(calls).DefaultTimeout();

        Assert.False(overlapped);
        Assert.Equal(Enumerable.Range(0, 200), store.SavedBatches.SelectMany(b => b));
    }

    [Fact]
    public async Task Stop_WaitsForRunningAndQueuedBatchesToSave_ThenRejectsAndNeverSavesAgain()
    {
        var store = new TestStore();
        var processor = new BatchProcessor<Counter>(store.Options());
        store.HoldSaves();

        var running = processor.RunAsync("k", c => Increment(c, 1));
        Wait(() => store.SavesStarted == 1);
        var queued = processor.RunAsync("k", c => Increment(c, 2));
        var stop = processor.StopAsync();
        var secondStop = processor.StopAsync();

        Assert.False(stop.IsCompleted);
        await Assert.ThrowsAsync<BatchProcessorStoppedException>(() => processor.RunAsync("k", c => Increment(c, 3))).DefaultTimeout();
        store.ReleaseSaves();
        await Task.WhenAll(stop, secondStop, running, queued).DefaultTimeout();
        var savesAtStop = store.Saves;

        Assert.Equal(2, savesAtStop);
        await Assert.ThrowsAsync<BatchProcessorStoppedException>(() => processor.RunAsync("j", c => Increment(c, 4))).DefaultTimeout();
        await processor.StopAsync().DefaultTimeout();
        Assert.Equal(savesAtStop, store.Saves);
    }

    [Fact]
    public async Task Stop_ClosesAnOpenWindowAtOnce()
    {
        var time = new FakeTimeProvider();
        var store = new TestStore();
        var processor = new BatchProcessor<Counter>(store.Options(o => o.MinDuration = TimeSpan.FromMinutes(5)), time);

        var call = processor.RunAsync("k", c => Increment(c, 1));
        Wait(() => store.Loads == 1);
        await processor.StopAsync().DefaultTimeout();

        await call.DefaultTimeout();
        Assert.Equal(1, store.Saves);
    }

    [Fact]
    public async Task StopCutShort_RejectsBatchesThatHaveNotStarted_AndGivesUpOnASaveThatIgnoresItsToken()
    {
        var saveStarted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var never = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var processor = new BatchProcessor<Counter>(
            new BatchProcessorOptions<Counter>
            {
                Workers = 1,

                // A save that ignores its token: the stop's token, not the save, decides when the stop returns.
                SaveResource = async (_, _, _) => { saveStarted.TrySetResult(); await never.Task; },
            },
            new FakeTimeProvider());
        using var shutdown = new CancellationTokenSource();

        var running = processor.RunAsync("a", c => Increment(c, 1));
        await saveStarted.Task.DefaultTimeout();
        var notStarted = processor.RunAsync("b", c => Increment(c, 2));
        var stop = processor.StopAsync(shutdown.Token);
        Assert.False(stop.IsCompleted);
        await shutdown.CancelAsync();

        await stop.DefaultTimeout();
        await Assert.ThrowsAsync<BatchProcessorStoppedException>(() => notStarted).DefaultTimeout();
        var aborted = await Assert.ThrowsAsync<BatchAbortedException>(() => running).DefaultTimeout();
        Assert.IsType<BatchProcessorStoppedException>(aborted.InnerException);
        never.SetResult();
    }

    [Fact]
    public async Task MaxDuration_EndsTheWaitForALoadThatIgnoresItsToken_AndFreesTheKey()
    {
        var time = new FakeTimeProvider();
        var never = new TaskCompletionSource<Counter>(TaskCreationOptions.RunContinuationsAsynchronously);
        var loads = 0;
        var processor = new BatchProcessor<Counter>(
            new BatchProcessorOptions<Counter>
            {
                MaxDuration = TimeSpan.FromSeconds(1),
                LoadResource = (_, _) => Interlocked.Increment(ref loads) == 1 ? new ValueTask<Counter>(never.Task) : new ValueTask<Counter>(new Counter()),
            },
            time);

        var calls = Enumerable.Range(1, 3).Select(i => processor.RunAsync("k", c => Increment(c, i))).ToList();
        Wait(() => Volatile.Read(ref loads) == 1);
        time.Advance(TimeSpan.FromSeconds(1));

        foreach (var call in calls)
        {
            var error = await Assert.ThrowsAsync<BatchAbortedException>(() => call).DefaultTimeout();
            Assert.IsType<TimeoutException>(error.InnerException);
        }

        Assert.Equal(1, await processor.RunAsync("k", c => ++c.Value).DefaultTimeout());
        await processor.StopAsync().DefaultTimeout();
        never.SetResult(new Counter());
    }

    [Fact]
    public async Task MaxDuration_EndsTheWaitForASaveThatIgnoresItsToken_AndTheStopDoesNotHang()
    {
        var time = new FakeTimeProvider();
        var saveStarted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var never = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var processor = new BatchProcessor<Counter>(
            new BatchProcessorOptions<Counter>
            {
                MaxDuration = TimeSpan.FromSeconds(1),
                SaveResource = async (_, _, _) => { saveStarted.TrySetResult(); await never.Task; },
            },
            time);

        var call = processor.RunAsync("k", c => Increment(c, 1));
        await saveStarted.Task.DefaultTimeout();
        var stop = processor.StopAsync();
        time.Advance(TimeSpan.FromSeconds(1));

        var error = await Assert.ThrowsAsync<BatchAbortedException>(() => call).DefaultTimeout();
        Assert.IsType<TimeoutException>(error.InnerException);
        await stop.DefaultTimeout();
        never.SetResult();
    }

    [Fact]
    public async Task RunAsyncWithResult_AlreadyCancelled_ThrowsWithTheCallersToken()
    {
        await using var processor = new BatchProcessor<Counter>(new BatchProcessorOptions<Counter>());
        using var caller = new CancellationTokenSource();
        await caller.CancelAsync();

        var withResult = await Assert.ThrowsAnyAsync<OperationCanceledException>(() => processor.RunAsync("k", c => ++c.Value, caller.Token));
        var withoutResult = await Assert.ThrowsAnyAsync<OperationCanceledException>(() => processor.RunAsync("k", c => c.Value++, caller.Token));

        Assert.Equal(caller.Token, withResult.CancellationToken);
        Assert.Equal(caller.Token, withoutResult.CancellationToken);
    }

    [Fact]
    public void InvalidOptions_ThrowNamingTheOption()
    {
        var error = Assert.Throws<ArgumentException>(() => new BatchProcessor<Counter>(new BatchProcessorOptions<Counter> { Workers = 0 }));
        Assert.Contains("Workers", error.Message);

        error = Assert.Throws<ArgumentException>(() => new BatchProcessor<Counter>(new BatchProcessorOptions<Counter>
        {
            MinDuration = TimeSpan.FromSeconds(2),
            MaxDuration = TimeSpan.FromSeconds(1),
        }));
        Assert.Contains("MaxDuration", error.Message);

        // Longer than a timer accepts: rejected up front instead of failing the first batch.
        error = Assert.Throws<ArgumentException>(() => new BatchProcessor<Counter>(new BatchProcessorOptions<Counter> { MaxDuration = TimeSpan.MaxValue }));
        Assert.Contains($"MaxDuration is {TimeSpan.MaxValue}", error.Message);
        Assert.Contains("what a timer accepts", error.Message);

        error = Assert.Throws<ArgumentException>(() => new BatchProcessor<NoDefaultConstructor>(new BatchProcessorOptions<NoDefaultConstructor>()));
        Assert.Contains("LoadResource", error.Message);
    }

    [Fact]
    public async Task DefaultLoadAndSave_CreateANewResourceAndKeepNothing()
    {
        await using var processor = new BatchProcessor<Counter>(new BatchProcessorOptions<Counter>());

        Assert.Equal(1, await processor.RunAsync("k", c => ++c.Value).DefaultTimeout());
        Assert.Equal(1, await processor.RunAsync("k", c => ++c.Value).DefaultTimeout());
    }

    private static void Increment(Counter counter, int operation)
    {
        counter.Value++;
        counter.Applied.Add(operation);
    }

    private static void Wait(Func<bool> condition) => Assert.True(SpinWait.SpinUntil(condition, TestTimeouts.Default));

    public sealed class NoDefaultConstructor(int value)
    {
        public int Value { get; } = value;
    }
}
