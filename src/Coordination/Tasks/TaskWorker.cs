using System.Diagnostics;
using Coordination.Diagnostics;
using Microsoft.Extensions.Logging;

namespace Coordination.Tasks;

/// <summary>
/// Claims the ready tasks of one queue and runs them, at most <c>concurrency</c> at a time, each under a renewed lease.
/// Success deletes the task; a failure retries it with backoff or moves it to the error group; nothing else settles it.
/// </summary>
internal sealed class TaskWorker : IAsyncDisposable
{
    private const string ActivityOperationName = "coordination.tasks";
    private const double MaxJitter = 0.2;

    private readonly TaskQueue _queue;
    private readonly TaskQueueOptions _options;
    private readonly int _concurrency;
    private readonly Func<TaskItem, CancellationToken, Task> _handle;
    private readonly TimeProvider _timeProvider;
    private readonly TaskMetrics _metrics;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _slots;
    private readonly TaskCompletionBatcher _completions;
    private readonly CancellationTokenSource _stopping = new();
    private readonly CancellationTokenSource _abort = new();
    private readonly string _activityDisplayName;
    private Task? _run;

    public TaskWorker(TaskQueue queue, TaskQueueOptions options, int concurrency, Func<TaskItem, CancellationToken, Task> handle, TimeProvider timeProvider, TaskMetrics metrics, ILogger logger)
    {
        _queue = queue;
        _options = options;
        _concurrency = concurrency;
        _handle = handle;
        _timeProvider = timeProvider;
        _metrics = metrics;
        _logger = logger;
        _slots = new SemaphoreSlim(concurrency, concurrency);
        _completions = new TaskCompletionBatcher(queue.Store);
        _activityDisplayName = $"{ActivityOperationName} {queue.Name}";
    }

    /// <summary>The delay before retry number <paramref name="attempt"/> + 1: the backoff doubled per attempt, capped, plus up to 20% jitter.</summary>
    internal static TimeSpan RetryDelay(TaskQueueOptions options, int attempt, double jitter)
    {
        var doubled = options.RetryBackoff.Ticks * Math.Pow(2, Math.Max(0, attempt - 1));
        var capped = Math.Min(doubled, options.MaxRetryBackoff.Ticks);
        return TimeSpan.FromTicks((long)(capped * (1 + (MaxJitter * jitter))));
    }

    public void Start() => _run = Task.Run(RunAsync);

    /// <summary>Stops at once if the host did not stop the worker: handlers are cancelled and their tasks made claimable.</summary>
    /// <remarks>Nothing is disposed: the sources have no timers or links, and the host may still be stopping the worker on
    /// another thread (seen under WebApplicationFactory, where a stop and the container's disposal overlap).</remarks>
    public async ValueTask DisposeAsync() => await StopAsync(new CancellationToken(canceled: true)).ConfigureAwait(false);

    /// <summary>Stops claiming, then waits for running handlers; when <paramref name="cancellationToken"/> fires they are
    /// cancelled, and the tasks they give up are made claimable again at once. Safe to call more than once, concurrently.</summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        if (_run is not null)
        {
            using (cancellationToken.Register(static state => ((CancellationTokenSource)state!).Cancel(), _abort))
            {
                await _run.ConfigureAwait(false);
            }
        }

        await _completions.CloseAsync().ConfigureAwait(false);
    }

    private async Task RunAsync()
    {
        var stopping = _stopping.Token;
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                await ClaimAndStartAsync(stopping).ConfigureAwait(false);
            }
            catch (Exception exception) when (!stopping.IsCancellationRequested)
            {
                // Never die silently: whatever escaped one pass is logged, and the loop goes on after a pause.
                TaskLog.LoopFaulted(_logger, _queue.Name, _options.FaultRetryDelay, exception);
                await Task.Delay(_options.FaultRetryDelay, _timeProvider, stopping).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
        }

        // Every slot back means no handler runs any more (an abandoned handler gave its slot back when it was abandoned).
        for (var i = 0; i < _concurrency; i++)
        {
            await _slots.WaitAsync(CancellationToken.None).ConfigureAwait(false);
        }
    }

    /// <summary>One pass: takes the free slots, claims that many tasks, starts them, and waits for work if any slot stayed free.</summary>
    private async Task ClaimAndStartAsync(CancellationToken stopping)
    {
        try
        {
            await _slots.WaitAsync(stopping).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return;
        }

        if (stopping.IsCancellationRequested)
        {
            // A slot freed while the stop's cancellation was still on its way to this wait: the semaphore hands it
            // over anyway, and claiming with it would take back a task the stop just released.
            _slots.Release();
            return;
        }

        // Completions are written in batches, so slots come back several at a time: let the other handlers of the
        // batch give theirs back before counting, and claim them all in one round trip.
        await Task.Yield();
        var free = 1;
        while (free < _concurrency && _slots.Wait(0, CancellationToken.None))
        {
            free++;
        }

        // Read the signal before looking, so that a task enqueued while we look still wakes us.
        var ready = _queue.ReadySignal;
        IReadOnlyList<TaskItem> claimed;
        try
        {
            claimed = await _queue.Store.ClaimBatchAsync(_queue.Group, _options.LeaseDuration, free, stopping).ConfigureAwait(false);
        }
        catch (Exception exception)
        {
            _slots.Release(free);
            if (!stopping.IsCancellationRequested)
            {
                TaskLog.ClaimFailed(_logger, _queue.Name, _options.FaultRetryDelay, exception);
                await WaitForWorkAsync(ready: null, _options.FaultRetryDelay).ConfigureAwait(false);
            }

            return;
        }

        if (free > claimed.Count)
        {
            _slots.Release(free - claimed.Count);
        }

        foreach (var task in claimed)
        {
            _ = Task.Run(() => ProcessAsync(task), CancellationToken.None);
        }

        if (claimed.Count < free)
        {
            await WaitForWorkAsync(ready, _options.PollInterval).ConfigureAwait(false);
        }
    }

    /// <summary>Waits for a wake-up (when given), the delay (poll: retries, lapsed leases, other processes' tasks) or the stop.</summary>
    /// <param name="ready">The queue's wake-up signal, or <see langword="null"/> to wait out the delay.</param>
    /// <param name="delay">A validated timer delay, or <see cref="Timeout.InfiniteTimeSpan"/> to wait for a wake-up only.</param>
    private async Task WaitForWorkAsync(Task? ready, TimeSpan delay)
    {
        using var poll = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
        var interval = Task.Delay(delay, _timeProvider, poll.Token);
        await (ready is null ? Task.WhenAny(interval) : Task.WhenAny(ready, interval)).ConfigureAwait(false);
        await poll.CancelAsync().ConfigureAwait(false);
    }

    private async Task ProcessAsync(TaskItem task)
    {
        // The run continues the trace of the code that enqueued the task, if it recorded one.
        using var activity = CoordinationDiagnostics.StartConsumerActivity(ActivityOperationName, task.TraceParent);
        if (activity is not null)
        {
            activity.DisplayName = _activityDisplayName;
            activity.SetTag(CoordinationDiagnostics.NameTag, _queue.Name);
            activity.SetTag("coordination.tasks.attempt", task.Attempts);
        }

        // The handler is waited for until its token is cancelled (the lease is lost, or the host's shutdown timeout
        // fired), and not a moment longer: one that ignores its token is abandoned, so it neither holds its slot nor
        // holds up the host's stop, and whatever it does from then on is not settled.
        Task? handling = null;
        var slotReleased = 0;
        void ReleaseSlot()
        {
            if (Interlocked.Exchange(ref slotReleased, 1) == 0)
            {
                _slots.Release();
            }
        }

        Task HandleUntilCancelled(TaskItem claimed, CancellationToken cancellationToken) =>
            (handling = _handle(claimed, cancellationToken)).WaitAsync(cancellationToken);

        try
        {
            _metrics.Claimed(_queue.Name, _timeProvider.GetUtcNow() - task.ReadyAt);
            await RunAndSettleAsync(task, HandleUntilCancelled, ReleaseSlot, activity).ConfigureAwait(false);
        }
        catch (LeaseLostException exception)
        {
            _metrics.LeaseLost(_queue.Name);
            activity?.SetStatus(ActivityStatusCode.Error, "lease lost");
            TaskLog.LeaseLost(_logger, _queue.Name, task.Id, task.LeaseVersion, exception);
        }
        catch (Exception exception)
        {
            activity?.SetStatus(ActivityStatusCode.Error, exception.Message);
            TaskLog.SettleFailed(_logger, _queue.Name, task.Id, exception);
        }
        finally
        {
            if (handling is { IsCompleted: false })
            {
                TaskLog.HandlerAbandoned(_logger, _queue.Name, task.Id);
            }

            ReleaseSlot();
        }
    }

    /// <summary>Deletes a handled task together with the other completions waiting (group commit). A task that is gone
    /// was completed by its own handler, in the handler's transaction (the exactly-once pattern): that is a completion too.</summary>
    private async Task CompleteAsync(TaskItem task, Action releaseSlot)
    {
        // Queued before the slot goes back: a stop that has every slot back then finds every completion queued, and
        // closing the batcher waits for them all to be written (and counted).
        var completing = _completions.CompleteAsync(task);
        releaseSlot();
        try
        {
            await completing.ConfigureAwait(false);
        }
        catch (LeaseLostException exception) when (exception.TaskGone)
        {
            TaskLog.SettledByHandler(_logger, _queue.Name, task.Id);
        }

        _metrics.Completed(_queue.Name);
    }

    /// <exception cref="LeaseLostException">The lease was lost while the handler ran or before the outcome was written.</exception>
    // releaseSlot hands the task's slot back as soon as the handler returned (it no longer runs), so the next task is
    // claimed while this one's completion is written: claims and completions overlap, and both batch better.
    private async Task RunAndSettleAsync(TaskItem task, Func<TaskItem, CancellationToken, Task> handle, Action releaseSlot, Activity? activity)
    {
        Exception failure;
        try
        {
            await _queue.Store.RunWithLeaseAsync(task, handle, _options.EffectiveHeartbeat, _options.LeaseDuration, _timeProvider, _abort.Token).ConfigureAwait(false);
            await CompleteAsync(task, releaseSlot).ConfigureAwait(false);
            return;
        }
        catch (OperationCanceledException) when (_abort.IsCancellationRequested)
        {
            // Cut short by shutdown: not the task's fault, so the attempt is given back and the task is ready at once.
            await _queue.Store.DoAsync(TaskOp.Update(task with { NotBefore = default, Attempts = task.Attempts - 1 })).ConfigureAwait(false);
            TaskLog.Released(_logger, _queue.Name, task.Id);
            return;
        }
        catch (Exception exception) when (exception is not LeaseLostException)
        {
            failure = exception;
        }

        _metrics.Failed(_queue.Name, failure);
        activity?.SetStatus(ActivityStatusCode.Error, failure.Message);
        activity?.SetTag(CoordinationDiagnostics.ErrorTypeTag, failure.GetType().FullName);
        if (failure is PermanentTaskException || task.Attempts >= _options.MaxAttempts)
        {
            var error = failure is PermanentTaskException ? failure.Message : $"{failure.GetType().FullName}: {failure.Message}";
            await _queue.Store.DoAsync(TaskOp.Move(task, _queue.ErrorGroup, error)).ConfigureAwait(false);
            _metrics.DeadLettered(_queue.Name);
            TaskLog.DeadLettered(_logger, _queue.Name, task.Id, _queue.ErrorGroup, task.Attempts, failure);
            return;
        }

        var delay = RetryDelay(_options, task.Attempts, Random.Shared.NextDouble());
        await _queue.Store.DoAsync(TaskOp.Disown(task, delay, $"{failure.GetType().FullName}: {failure.Message}")).ConfigureAwait(false);
        TaskLog.Retrying(_logger, _queue.Name, task.Id, task.Attempts, delay, failure);
    }
}
