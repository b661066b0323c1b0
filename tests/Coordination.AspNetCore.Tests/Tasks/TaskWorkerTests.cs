using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using Coordination.AspNetCore;
using Coordination.Diagnostics;
using Coordination.Tasks;
using Coordination.Tests.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace Coordination.Tests.Tasks;

/// <summary>Hosted workers over the in-memory store, on a fake clock: time moves only when a test moves it.</summary>
public sealed class TaskWorkerTests : IAsyncDisposable
{
    private const string Queue = "jobs";
    private static readonly TimeSpan Lease = TimeSpan.FromSeconds(30);

    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 23, 0, 0, 0, TimeSpan.Zero));
    private IHost? _host;

    private TaskQueue Jobs => _host!.Services.GetRequiredKeyedService<TaskQueue>(Queue);

    public async ValueTask DisposeAsync()
    {
        if (_host is not null)
        {
            using var stop = new CancellationTokenSource();
            await stop.CancelAsync();
            await _host.StopAsync(stop.Token);
            _host.Dispose();
        }
    }

    [Fact]
    public async Task HandlerThatCompletesItsOwnTask_CountsAsCompleted_NotAsALostLease()
    {
        var settled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await StartAsync(async (task, ct) =>
        {
            // The exactly-once pattern: the handler deletes its task (fenced) together with its own effects.
            await Jobs.Store.DoAsync([TaskOp.Delete(task)], ct);
            settled.TrySetResult();
        });
        using var completed = Collect("coordination.tasks.completed");
        using var lost = Collect("coordination.tasks.lease.lost");

        await Jobs.EnqueueAsync("x", TestJson.Default.String);
        await settled.Task.DefaultTimeout();
        Assert.True(SpinWait.SpinUntil(() => completed.GetMeasurementSnapshot().Sum(m => m.Value) == 1, TestTimeouts.Default), "the task counts as completed");

        Assert.Empty(lost.GetMeasurementSnapshot());
        Assert.DoesNotContain(Logs.GetSnapshot(), log => log.Level >= LogLevel.Warning);
        Assert.Equal(default, await Jobs.Store.CountAsync(Queue));
    }

    [Fact]
    public async Task RacingWorkers_HandleEveryTaskExactlyOnce()
    {
        const int Tasks = 300;
        var handled = new ConcurrentDictionary<long, int>();
        var all = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await StartAsync(
            (task, _) =>
            {
                handled.AddOrUpdate(task.Id, 1, (_, n) => n + 1);
                if (handled.Count == Tasks)
                {
                    all.TrySetResult();
                }

                return Task.CompletedTask;
            },
            workers: 3,
            concurrency: 4);
        using var completed = Collect("coordination.tasks.completed");

        await Parallel.ForAsync(0, Tasks, async (i, ct) => await Jobs.EnqueueAsync(new[] { (byte)i }, cancellationToken: ct));

        await all.Task.DefaultTimeout();
        Gate.WaitUntil(() => completed.GetMeasurementSnapshot().EvaluateAsCounter() == Tasks, "every task is deleted");
        Assert.All(handled.Values, runs => Assert.Equal(1, runs));
        Assert.Equal(default, await Jobs.Store.CountAsync(Queue));
    }

    [Fact]
    public async Task Success_DeletesTheTask_WithAHandlerFromANewScopePerTask()
    {
        var handlers = new ConcurrentBag<(long TaskId, int Handler, string Payload)>();
        await StartAsync((task, _) =>
        {
            handlers.Add((task.Id, ScriptedHandler.Current!.GetHashCode(), task.ReadPayload(TestJson.Default.String)!));
            return Task.CompletedTask;
        });
        using var claimed = Collect("coordination.tasks.claimed");
        using var lag = new MetricCollector<double>(Meters, CoordinationDiagnostics.MeterName, "coordination.tasks.queue.lag");

        await Jobs.EnqueueAsync("first", TestJson.Default.String);
        await Jobs.EnqueueAsync("second", TestJson.Default.String);

        Gate.WaitUntil(() => handlers.Count == 2 && Jobs.Store.CountAsync(Queue).AsTask().Result.Total == 0, "both tasks are handled and deleted");
        Assert.Equal(["first", "second"], handlers.Select(h => h.Payload).Order());
        Assert.Equal(2, handlers.Select(h => h.Handler).Distinct().Count());
        Assert.Equal(2, claimed.GetMeasurementSnapshot().EvaluateAsCounter());
        Assert.All(lag.GetMeasurementSnapshot(), m => Assert.Equal(0, m.Value));
    }

    [Fact]
    public async Task NewTask_InAGroupWhoseOtherTasksAreAllLeased_IsPickedUpAtOnce()
    {
        var gate = new Gate();
        var quick = new TaskCompletionSource<TaskItem>(TaskCreationOptions.RunContinuationsAsynchronously);
        await StartAsync(async (task, ct) =>
        {
            if (task.ReadPayload(TestJson.Default.String) == "slow")
            {
                await gate.PassAsync(ct);
            }
            else
            {
                quick.TrySetResult(task);
            }
        }, concurrency: 3);

        await Jobs.EnqueueAsync("slow", TestJson.Default.String);
        await Jobs.EnqueueAsync("slow", TestJson.Default.String);
        Gate.WaitUntil(() => gate.Entered == 2, "both slow tasks hold their leases");
        Assert.Equal(new TaskGroupCounts(0, 2, 0), await Jobs.Store.CountAsync(Queue));

        // Written straight to the store (as a handler's atomic DoAsync would), not through TaskQueue: the workers still wake.
        await Jobs.Store.DoAsync(TaskOp.Create(TaskItem.Create(Queue, "quick", TestJson.Default.String)));

        // The clock never moves, so no poll can have found it.
        var picked = await quick.Task.DefaultTimeout();
        Assert.Equal(1, picked.Attempts);
        gate.Open();
    }

    [Fact]
    public async Task PermanentFailure_MovesTheTaskToTheErrorGroupAtOnce_WithItsError()
    {
        var runs = 0;
        await StartAsync((_, _) =>
        {
            Interlocked.Increment(ref runs);
            throw new PermanentTaskException("no such mailbox");
        });
        using var deadLettered = Collect("coordination.tasks.dead_lettered");

        var task = await Jobs.EnqueueAsync("x", TestJson.Default.String);

        Gate.WaitUntil(() => Jobs.Store.CountAsync(Jobs.ErrorGroup).AsTask().Result.Total == 1, "the task is in the error group");
        var failed = (await Jobs.Store.QueryAsync(Jobs.ErrorGroup, TimeSpan.Zero))!;
        Assert.Equal((task.Id, 1, "no such mailbox"), (failed.Id, failed.Attempts, failed.Error));
        Assert.Equal(1, runs);
        Assert.Equal(default, await Jobs.Store.CountAsync(Queue));
        Assert.Equal(1, deadLettered.GetMeasurementSnapshot().EvaluateAsCounter());
    }

    [Fact]
    public async Task PoisonTask_IsRetriedWithGrowingBackoff_ThenEndsInTheErrorGroupAfterMaxAttempts()
    {
        var runs = new ConcurrentQueue<(DateTimeOffset At, int Attempt)>();
        var store = new BackoffRecordingStore(new InMemoryTaskStore(_time));
        await StartAsync(
            (task, _) =>
            {
                runs.Enqueue((_time.GetUtcNow(), task.Attempts));
                throw new InvalidOperationException("boom");
            },
            o =>
            {
                o.MaxAttempts = 3;
                o.RetryBackoff = TimeSpan.FromSeconds(4);
            },
            store: store);
        using var failedRuns = Collect("coordination.tasks.failed");
        using var deadLettered = Collect("coordination.tasks.dead_lettered");
        using var completed = Collect("coordination.tasks.completed");
        var enqueuedAt = _time.GetUtcNow();

        await Jobs.EnqueueAsync("poison", TestJson.Default.String);
        Gate.WaitUntil(() => runs.Count == 1, "the first run, on a clock that has not moved");
        _time.AdvanceUntil(() => Jobs.Store.CountAsync(Jobs.ErrorGroup).AsTask().Result.Total == 1, TimeSpan.FromSeconds(1), "the task reaches the error group");

        var failed = (await Jobs.Store.QueryAsync(Jobs.ErrorGroup, TimeSpan.Zero))!;
        Assert.Equal(3, failed.Attempts);
        Assert.Equal("System.InvalidOperationException: boom", failed.Error);
        Assert.Equal([1, 2, 3], runs.Select(r => r.Attempt));
        var at = runs.Select(r => r.At).ToArray();
        Assert.Equal(enqueuedAt, at[0]);
        Assert.Collection(
            store.Delays,
            first => Assert.InRange(first, TimeSpan.FromSeconds(4), TimeSpan.FromSeconds(4 * 1.2)),
            second => Assert.InRange(second, TimeSpan.FromSeconds(8), TimeSpan.FromSeconds(8 * 1.2)));

        // No retry runs early; how late it runs depends on when the worker next looks, so only the lower bound holds.
        Assert.True(at[1] - at[0] >= store.Delays[0], $"retry 1 ran {at[1] - at[0]} after the failure");
        Assert.True(at[2] - at[1] >= store.Delays[1], $"retry 2 ran {at[2] - at[1]} after the failure");
        Assert.Equal(default, await Jobs.Store.CountAsync(Queue));
        Assert.Equal(3, failedRuns.GetMeasurementSnapshot().EvaluateAsCounter());
        Assert.Equal(1, deadLettered.GetMeasurementSnapshot().EvaluateAsCounter());
        Assert.Equal(0, completed.GetMeasurementSnapshot().EvaluateAsCounter());
    }

    [Fact]
    public async Task RetryingTask_KeepsItsErrorAndIsScheduledNotLost()
    {
        var retried = new TaskCompletionSource<TaskItem>(TaskCreationOptions.RunContinuationsAsynchronously);
        await StartAsync((task, _) =>
        {
            if (task.Attempts == 1)
            {
                throw new TimeoutException("smtp timed out");
            }

            retried.TrySetResult(task);
            return Task.CompletedTask;
        });

        var task = await Jobs.EnqueueAsync("x", TestJson.Default.String);

        Gate.WaitUntil(() => Jobs.Store.CountAsync(Queue).AsTask().Result == new TaskGroupCounts(0, 0, 1), "the task waits out its backoff");
        _time.AdvanceUntil(() => retried.Task.IsCompleted, TimeSpan.FromSeconds(0.2), "the task is retried");
        var retry = await retried.Task;
        Assert.Equal((task.Id, 2, "System.TimeoutException: smtp timed out"), (retry.Id, retry.Attempts, retry.Error));
    }

    [Fact]
    public async Task CrashedWorkersTask_IsClaimableOnlyAfterItsLease()
    {
        var store = new InMemoryTaskStore(_time);
        await store.DoAsync(TaskOp.Create(TaskItem.Create(Queue, "x", TestJson.Default.String)));
        var crashed = (await store.QueryAsync(Queue, Lease))!; // claimed by a process that then died
        var leaseEnd = _time.GetUtcNow() + Lease;
        var run = new TaskCompletionSource<(TaskItem Task, DateTimeOffset At)>(TaskCreationOptions.RunContinuationsAsynchronously);
        await StartAsync((task, _) =>
        {
            run.TrySetResult((task, _time.GetUtcNow()));
            return Task.CompletedTask;
        }, store: store);

        _time.AdvanceUntil(() => run.Task.IsCompleted, TimeSpan.FromSeconds(1), "the task is picked up again");

        var (again, at) = await run.Task;
        Assert.True(at >= leaseEnd, $"claimed at {at:O}, before the lease ended at {leaseEnd:O}");
        Assert.Equal((crashed.Id, crashed.LeaseVersion + 1, 2), (again.Id, again.LeaseVersion, again.Attempts));
    }

    [Fact]
    public async Task PausedWorkerWhoseLeaseLapsed_CannotRenewOrComplete()
    {
        var store = new PausableRenewalStore(new InMemoryTaskStore(_time));
        var handlerDone = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var handlerStarted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var finishHandler = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await StartAsync(
            async (_, _) =>
            {
                handlerStarted.TrySetResult();
                await finishHandler.Task;
                handlerDone.TrySetResult();
            },
            store: store);
        using var leaseLost = Collect("coordination.tasks.lease.lost");
        using var completed = Collect("coordination.tasks.completed");
        await Jobs.EnqueueAsync("x", TestJson.Default.String);
        await handlerStarted.Task.DefaultTimeout();

        // The worker stalls (a long GC pause, say) at its first heartbeat, and the lease runs out meanwhile.
        _time.Advance(Lease / 4);
        await store.RenewalStalled.Task.DefaultTimeout();
        _time.Advance(Lease);
        var newHolder = (await store.QueryAsync(Queue, Lease))!;
        finishHandler.SetResult();
        await handlerDone.Task.DefaultTimeout();
        store.Resume();

        Gate.WaitUntil(() => leaseLost.GetMeasurementSnapshot().EvaluateAsCounter() == 1, "the worker learns its lease is lost");
        Assert.IsType<LeaseLostException>(await store.RenewalOutcome.Task.DefaultTimeout());
        Assert.Equal(0, completed.GetMeasurementSnapshot().EvaluateAsCounter());
        Assert.Equal(new TaskGroupCounts(0, 1, 0), await store.CountAsync(Queue));
        await store.DoAsync(TaskOp.Delete(newHolder));
    }

    [Fact]
    public async Task Shutdown_LetsRunningHandlersFinish()
    {
        var gate = new Gate();
        var handlerToken = CancellationToken.None;
        await StartAsync(async (_, ct) =>
        {
            handlerToken = ct;
            await gate.PassAsync(CancellationToken.None);
        });
        using var completed = Collect("coordination.tasks.completed");
        await Jobs.EnqueueAsync("x", TestJson.Default.String);
        Gate.WaitUntil(() => gate.Entered == 1, "the handler runs");

        var stop = _host!.StopAsync();

        Assert.False(stop.IsCompleted);
        Assert.False(handlerToken.IsCancellationRequested);
        gate.Open();
        await stop.DefaultTimeout();
        Assert.Equal(1, completed.GetMeasurementSnapshot().EvaluateAsCounter());
        Assert.Equal(default, await Jobs.Store.CountAsync(Queue));
    }

    [Fact]
    public async Task ShutdownTimeout_CancelsHandlers_AndTheirTasksAreClaimableAtOnce_WithTheAttemptGivenBack()
    {
        var task = await StartWithOneTaskRunningUntilCancelledAsync();
        using var shutdownTimeout = new CancellationTokenSource();

        var stop = _host!.StopAsync(shutdownTimeout.Token);
        await shutdownTimeout.CancelAsync();
        await stop.DefaultTimeout();

        // No clock movement: ready now, not after the 30 s lease.
        Assert.Equal(new TaskGroupCounts(1, 0, 0), await Jobs.Store.CountAsync(Queue));
        var released = (await Jobs.Store.QueryAsync(Queue, TimeSpan.Zero))!;
        Assert.Equal((task.Id, 0), (released.Id, released.Attempts));
    }

    [Fact]
    public async Task DisposedWhileTheHostStopsIt_NeitherThrows_AndTheTaskIsGivenBack()
    {
        var task = await StartWithOneTaskRunningUntilCancelledAsync();
        var worker = _host!.Services.GetServices<IHostedPrimitive>().OfType<TaskWorkerLifetime>().Single();

        var stop = _host.StopAsync();
        await worker.DisposeAsync();
        await stop.DefaultTimeout();
        await worker.StopAsync(CancellationToken.None);

        var released = (await Jobs.Store.QueryAsync(Queue, TimeSpan.Zero))!;
        Assert.Equal((task.Id, 0), (released.Id, released.Attempts));
    }

    [Fact]
    public async Task HandlerIgnoringItsToken_IsAbandonedAtTheShutdownTimeout_AndItsTaskGivenBack()
    {
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var never = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await StartAsync(async (_, _) =>
        {
            started.TrySetResult();
            await never.Task;
        });
        var task = await Jobs.EnqueueAsync("x", TestJson.Default.String);
        await started.Task.DefaultTimeout();
        using var shutdownTimeout = new CancellationTokenSource();

        var stop = _host!.StopAsync(shutdownTimeout.Token);
        await shutdownTimeout.CancelAsync();
        await stop.DefaultTimeout();

        var released = (await Jobs.Store.QueryAsync(Queue, TimeSpan.Zero))!;
        Assert.Equal((task.Id, 0), (released.Id, released.Attempts));
        var abandoned = Assert.Single(Logs.GetSnapshot(), r => r.Id.Name == "TaskHandlerAbandoned");
        Assert.Contains($"Task queue '{Queue}': the handler of task {task.Id}", abandoned.Message, StringComparison.Ordinal);

        // Released once: the stopping loop did not take the freed slot and claim the task back.
        Assert.Single(Logs.GetSnapshot(), r => r.Id.Name == "TaskReleased");
        never.SetResult();
    }

    [Fact]
    public async Task HandlerIgnoringItsToken_WhenItsLeaseIsLost_GivesItsSlotBackAtOnce()
    {
        var never = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var next = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var store = new LosingFirstRenewalStore(new InMemoryTaskStore(_time));
        await StartAsync(
            async (task, _) =>
            {
                if (task.ReadPayload(TestJson.Default.String) == "stuck")
                {
                    await never.Task;
                }

                next.TrySetResult();
            },
            store: store);
        using var leaseLost = Collect("coordination.tasks.lease.lost");
        await Jobs.EnqueueAsync("stuck", TestJson.Default.String);
        await Jobs.EnqueueAsync("next", TestJson.Default.String);

        // The first heartbeat finds the lease taken; the only slot must come back although the handler never ends.
        _time.AdvanceUntil(() => next.Task.IsCompleted, Lease / 4, "the next task runs in the freed slot");

        Assert.Equal(1, leaseLost.GetMeasurementSnapshot().EvaluateAsCounter());
        Assert.Contains(Logs.GetSnapshot(), r => r.Id.Name == "TaskHandlerAbandoned");
        never.SetResult();
    }

    [Fact]
    public async Task PollIntervalAndMaxRetryBackoffBeyondTheirLimits_FailHostStartNamingThem()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddKeyedCoordination(coord => coord.AddTaskQueue(Queue, o =>
        {
            o.PollInterval = TimeSpan.MaxValue;
            o.MaxRetryBackoff = TimeSpan.MaxValue;
        }).AddWorker<ScriptedHandler>());
        using var host = builder.Build();

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());

        Assert.Contains($"Task queue '{Queue}': PollInterval is {TimeSpan.MaxValue}", error.Message);
        Assert.Contains("Timeout.InfiniteTimeSpan", error.Message);

        // Not a timer, but a delay the store adds to its clock: unbounded, it would overflow when a retry is scheduled.
        Assert.Contains($"Task queue '{Queue}': MaxRetryBackoff is {TimeSpan.MaxValue}", error.Message);
    }

    [Fact]
    public async Task InfinitePollInterval_NeverPolls_AndAWakeUpStillRunsTheTask()
    {
        var handled = new TaskCompletionSource<TaskItem>(TaskCreationOptions.RunContinuationsAsynchronously);
        await StartAsync(
            (task, _) =>
            {
                handled.TrySetResult(task);
                return Task.CompletedTask;
            },
            o => o.PollInterval = Timeout.InfiniteTimeSpan);

        var task = await Jobs.EnqueueAsync("x", TestJson.Default.String);

        Assert.Equal(task.Id, (await handled.Task.DefaultTimeout()).Id);
        Assert.DoesNotContain(Logs.GetSnapshot(), r => r.Level >= LogLevel.Error);
    }

    [Fact]
    public async Task TaskRun_ContinuesTheTraceOfTheRequestThatEnqueuedIt()
    {
        var stopped = new ConcurrentQueue<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name is CoordinationDiagnostics.ActivitySourceName or "test.requests",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = stopped.Enqueue,
        };
        ActivitySource.AddActivityListener(listener);
        using var requests = new ActivitySource("test.requests");
        await StartAsync((_, _) => Task.CompletedTask);

        ActivityContext request;
        using (var activity = requests.StartActivity("POST /emails")!)
        {
            request = activity.Context;
            await Jobs.EnqueueAsync("x", TestJson.Default.String);
        }

        Gate.WaitUntil(() => stopped.Any(a => a.TraceId == request.TraceId && a.Source.Name == CoordinationDiagnostics.ActivitySourceName), "the task's activity stops");
        var run = stopped.Single(a => a.TraceId == request.TraceId && a.Source.Name == CoordinationDiagnostics.ActivitySourceName);
        Assert.Equal(request.SpanId, run.ParentSpanId);
        Assert.Equal(("coordination.tasks jobs", ActivityKind.Consumer), (run.DisplayName, run.Kind));
        Assert.Equal(Queue, run.GetTagItem("coordination.name"));
    }

    [Fact]
    public async Task QueueAndStore_AreKeyedSingletons_WithTheConfiguredGroups()
    {
        await StartAsync((_, _) => Task.CompletedTask, o => o.Group = "outbox");
        var services = _host!.Services;

        Assert.Same(Jobs, services.GetRequiredKeyedService<TaskQueue>(Queue));
        Assert.Same(services.GetRequiredService<ITaskStore>(), services.GetRequiredKeyedService<ITaskStore>(Queue));
        Assert.Same(Jobs.Store, services.GetRequiredService<ITaskStore>());
        Assert.Equal((Queue, "outbox", "outbox.errors"), (Jobs.Name, Jobs.Group, Jobs.ErrorGroup));
    }

    [Fact]
    public async Task InvalidQueueOptions_FailHostStartNamingQueueAndOption()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddKeyedCoordination(coord => coord.AddTaskQueue(Queue, o =>
        {
            o.LeaseDuration = TimeSpan.FromMinutes(1);
            o.Heartbeat = TimeSpan.FromMinutes(2);
        }).AddWorker<ScriptedHandler>());
        using var host = builder.Build();

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());

        Assert.Contains($"Task queue '{Queue}'", error.Message);
        Assert.Contains("Heartbeat is 00:02:00", error.Message);
    }

    [Fact]
    public void InvalidWorkerOptions_FailAtRegistrationNamingTheOption()
    {
        var services = new ServiceCollection();

        var error = Assert.Throws<ArgumentException>(() => services.AddKeyedCoordination(coord => coord.AddTaskQueue(Queue).AddWorker<ScriptedHandler>(o => o.Concurrency = 0)));

        Assert.Contains("Concurrency is 0", error.Message);
        Assert.Contains(nameof(ScriptedHandler), error.Message);
    }

    [Fact]
    public void DuplicateQueueName_IsRejected()
    {
        var services = new ServiceCollection();

        Assert.Throws<ArgumentException>(() => services.AddKeyedCoordination(coord =>
        {
            coord.AddTaskQueue(Queue);
            coord.AddTaskQueue(Queue);
        }));
    }

    [Fact]
    public void RetryDelay_DoublesPerAttempt_IsCapped_AndAddsAtMostAFifthAsJitter()
    {
        var options = new TaskQueueOptions { RetryBackoff = TimeSpan.FromSeconds(1), MaxRetryBackoff = TimeSpan.FromSeconds(10) };

        Assert.Equal(TimeSpan.FromSeconds(1), TaskWorker.RetryDelay(options, 1, 0));
        Assert.Equal(TimeSpan.FromSeconds(8), TaskWorker.RetryDelay(options, 4, 0));
        Assert.Equal(TimeSpan.FromSeconds(9.6), TaskWorker.RetryDelay(options, 4, 1));
        Assert.Equal(TimeSpan.FromSeconds(10), TaskWorker.RetryDelay(options, 5, 0));
        Assert.Equal(TimeSpan.FromSeconds(12), TaskWorker.RetryDelay(options, 1000, 1));
    }

    private IMeterFactory Meters => _host!.Services.GetRequiredService<IMeterFactory>();

    private FakeLogCollector Logs => _host!.Services.GetFakeLogCollector();

    private MetricCollector<long> Collect(string instrument) => new(Meters, CoordinationDiagnostics.MeterName, instrument);

    private async Task StartAsync(Func<TaskItem, CancellationToken, Task> handle, Action<TaskQueueOptions>? configure = null, int workers = 1, int concurrency = 1, ITaskStore? store = null)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders().AddFakeLogging();
        builder.Services.AddSingleton<TimeProvider>(_time);
        builder.Services.AddSingleton(new ScriptedHandler.Script(handle));
        if (store is not null)
        {
            builder.Services.AddSingleton(store);
        }

        builder.Services.AddKeyedCoordination(coord =>
        {
            var queue = coord.AddTaskQueue(Queue, configure);
            for (var i = 0; i < workers; i++)
            {
                queue.AddWorker<ScriptedHandler>(o => o.Concurrency = concurrency);
            }
        });
        _host = builder.Build();
        await _host.StartAsync();
    }

    /// <summary>Starts the worker with a handler that runs until its token is cancelled, and one task it is running.</summary>
    private async Task<TaskItem> StartWithOneTaskRunningUntilCancelledAsync()
    {
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await StartAsync(async (_, ct) =>
        {
            started.TrySetResult();
            await Task.Delay(Timeout.Infinite, ct);
        });
        var task = await Jobs.EnqueueAsync("x", TestJson.Default.String);
        await started.Task.DefaultTimeout();
        return task;
    }

    /// <summary>The handler the tests register: runs the test's script; a new instance per task.</summary>
    internal sealed class ScriptedHandler(ScriptedHandler.Script script) : ITaskHandler
    {
        private static readonly AsyncLocal<ScriptedHandler?> CurrentHandler = new();

        public static ScriptedHandler? Current => CurrentHandler.Value;

        public Task HandleAsync(TaskItem task, CancellationToken cancellationToken)
        {
            CurrentHandler.Value = this;
            return script.Handle(task, cancellationToken);
        }

        internal sealed record Script(Func<TaskItem, CancellationToken, Task> Handle);
    }

    /// <summary>Records the backoff of every retry the worker schedules.</summary>
    private sealed class BackoffRecordingStore(ITaskStore inner) : DelegatingTaskStore(inner)
    {
        private readonly ConcurrentQueue<TimeSpan> _delays = new();

        public IReadOnlyList<TimeSpan> Delays => [.. _delays];

        public override ValueTask<IReadOnlyList<TaskItem>> DoAsync(IReadOnlyList<TaskOp> operations, CancellationToken cancellationToken = default)
        {
            foreach (var operation in operations.Where(o => o.Kind == TaskOpKind.Disown))
            {
                _delays.Enqueue(operation.OwnFor);
            }

            return base.DoAsync(operations, cancellationToken);
        }
    }

    /// <summary>Answers the first renewal as if another worker had taken the task over.</summary>
    private sealed class LosingFirstRenewalStore(ITaskStore inner) : DelegatingTaskStore(inner)
    {
        private int _renewals;

        public override ValueTask<IReadOnlyList<TaskItem>> DoAsync(IReadOnlyList<TaskOp> operations, CancellationToken cancellationToken = default) =>
            operations is [{ Kind: TaskOpKind.Reown } renewal] && Interlocked.Increment(ref _renewals) == 1
                ? throw new LeaseLostException($"Task {renewal.Task.Id} was taken over.") { TaskId = renewal.Task.Id, LeaseVersion = renewal.Task.LeaseVersion }
                : base.DoAsync(operations, cancellationToken);
    }

    /// <summary>Stalls the first renewal until the test resumes it, as a paused process would.</summary>
    private sealed class PausableRenewalStore(ITaskStore inner) : DelegatingTaskStore(inner)
    {
        private readonly TaskCompletionSource _resume = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _renewals;

        public TaskCompletionSource RenewalStalled { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource<Exception?> RenewalOutcome { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Resume() => _resume.TrySetResult();

        public override async ValueTask<IReadOnlyList<TaskItem>> DoAsync(IReadOnlyList<TaskOp> operations, CancellationToken cancellationToken = default)
        {
            if (operations is not [{ Kind: TaskOpKind.Reown }] || Interlocked.Increment(ref _renewals) > 1)
            {
                return await Inner.DoAsync(operations, cancellationToken);
            }

            RenewalStalled.TrySetResult();
            await _resume.Task;
            try
            {
                var renewed = await Inner.DoAsync(operations, cancellationToken);
                RenewalOutcome.TrySetResult(null);
                return renewed;
            }
            catch (Exception exception)
            {
                RenewalOutcome.TrySetResult(exception);
                throw;
            }
        }
    }
}
