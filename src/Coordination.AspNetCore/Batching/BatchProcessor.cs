using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using Coordination.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Coordination.Batching;

/// <summary>
/// Lets concurrent mutations of one resource share one load and one save: operations on a key run one after another,
/// in arrival order, on the resource their batch loaded, and every caller completes when that batch is saved.
/// </summary>
/// <typeparam name="TResource">The resource; a class, so that every operation mutates the one instance that is saved.</typeparam>
/// <remarks>
/// <para>At most one batch per key exists at a time. With the default <see cref="BatchProcessorOptions{TResource}.MinDuration"/>
/// of zero (group commit) a batch takes whatever arrived while it loaded and ran, and whatever arrives during its save
/// forms the next batch.</para>
/// <para>Errors: a failed or timed-out load or save aborts the batch, and every caller in it gets a
/// <see cref="BatchAbortedException"/>. An operation that throws fails only its own caller; the batch goes on, and
/// whatever that operation changed before it threw is saved with the rest.</para>
/// <para>Cancellation: a caller that cancels before its operation ran gets an <see cref="OperationCanceledException"/>
/// and its operation never runs. Once its operation ran, the caller waits for the save, whose outcome is its own.</para>
/// </remarks>
public sealed class BatchProcessor<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicParameterlessConstructor)] TResource> : IAsyncDisposable
    where TResource : class
{
    private const string ActivityOperationName = "coordination.batch";

    private readonly ConcurrentDictionary<string, KeyQueue> _keys = new(StringComparer.Ordinal);
    private readonly string _name;
    private readonly string _activityDisplayName;
    private readonly TimeSpan _minDuration;
    private readonly TimeSpan _maxDuration;
    private readonly int _maxBatchSize;
    private readonly int? _maxPendingPerKey;
    private readonly SemaphoreSlim _workers;
    private readonly SemaphoreSlim[]? _pinnedWorkers;
    private readonly Func<string, int, int>? _workerForKey;
    private readonly Func<StoreLease> _openStore;
    private readonly TimeProvider _timeProvider;
    private readonly BatchMetrics? _metrics;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stopping = new();
    private readonly CancellationTokenSource _abandon = new();
    private readonly TaskCompletionSource _drained = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Lock _stopLock = new();
    private Task? _stop;
    private int _stopped;
    private int _intake;
    private int _activeLoops;

    /// <summary>Initializes a processor that loads and saves through the delegates in <paramref name="options"/>.</summary>
    /// <param name="options">The options; copied, so later changes have no effect.</param>
    /// <param name="timeProvider">The clock of windows and deadlines; <see cref="TimeProvider.System"/> when <see langword="null"/>.</param>
    /// <exception cref="ArgumentException">An option is out of range.</exception>
    public BatchProcessor(BatchProcessorOptions<TResource> options, TimeProvider? timeProvider = null)
        : this("default", options, store: null, timeProvider, metrics: null, logger: null)
    {
    }

    internal BatchProcessor(
        string name,
        BatchProcessorOptions<TResource> options,
        Func<StoreLease>? store,
        TimeProvider? timeProvider,
        BatchMetrics? metrics,
        ILogger? logger)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(options);
        OptionsValidation.ThrowIfInvalid(options.Validate(name), nameof(options));

        _name = name;
        _activityDisplayName = $"{ActivityOperationName} {name}";
        _minDuration = options.MinDuration;
        _maxDuration = options.EffectiveMaxDuration;
        _maxBatchSize = options.MaxBatchSize ?? int.MaxValue;
        _maxPendingPerKey = options.MaxPendingPerKey;
        _workers = new SemaphoreSlim(options.Workers, options.Workers);
        _workerForKey = options.WorkerForKey;
        if (_workerForKey is not null)
        {
            _pinnedWorkers = [.. Enumerable.Range(0, options.Workers).Select(_ => new SemaphoreSlim(1, 1))];
        }

        if (store is null && options.LoadResource is null && typeof(TResource).GetConstructor(Type.EmptyTypes) is null)
        {
            throw new ArgumentException(
                $"Batch processor '{name}': {typeof(TResource).Name} has no parameterless constructor, so set {nameof(options.LoadResource)} or register a store.",
                nameof(options));
        }

        IBatchResourceStore<TResource> delegates = new DelegateStore(options.LoadResource, options.SaveResource);
        var delegateLease = new StoreLease(() => delegates, null);
        _openStore = store ?? (() => delegateLease);
        _timeProvider = timeProvider ?? TimeProvider.System;
        _metrics = metrics;
        _logger = logger ?? NullLogger.Instance;
    }

    /// <summary>Runs <paramref name="operation"/> on the resource of <paramref name="key"/> in a batch.</summary>
    /// <param name="key">The resource key (case-sensitive).</param>
    /// <param name="operation">Mutates the resource; runs alone on it, so it needs no lock. Keep it fast: no I/O.</param>
    /// <param name="cancellationToken">Withdraws the operation if it has not run yet.</param>
    /// <returns>A task that completes when the batch that ran the operation is saved.</returns>
    /// <exception cref="BatchAbortedException">The batch's load or save failed or it passed its MaxDuration.</exception>
    /// <exception cref="BatchQueueFullException">The key has MaxPendingPerKey operations waiting already.</exception>
    /// <exception cref="BatchProcessorStoppedException">The processor is stopping or stopped.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled before the operation ran.</exception>
    public Task RunAsync(string key, Action<TResource> operation, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(operation);
        var pending = new ActionOperation(operation);
        Submit(key, pending, cancellationToken);
        return pending.Task;
    }

    /// <summary>Runs <paramref name="operation"/> on the resource of <paramref name="key"/> in a batch and returns its result.</summary>
    /// <typeparam name="TResult">The operation's result.</typeparam>
    /// <param name="key">The resource key (case-sensitive).</param>
    /// <param name="operation">Reads or mutates the resource; runs alone on it, so it needs no lock. Keep it fast: no I/O.</param>
    /// <param name="cancellationToken">Withdraws the operation if it has not run yet.</param>
    /// <returns>The operation's result, once the batch that ran it is saved.</returns>
    public Task<TResult> RunAsync<TResult>(string key, Func<TResource, TResult> operation, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(operation);
        var pending = new FuncOperation<TResult>(operation);
        Submit(key, pending, cancellationToken);
        return pending.Task;
    }

    /// <summary>
    /// Stops the processor: intake closes at once, batches already queued or running finish and save, and no save
    /// happens after the returned task completes. Safe to call more than once.
    /// </summary>
    /// <param name="cancellationToken">When cancelled, batches that have not started yet are rejected with
    /// <see cref="BatchProcessorStoppedException"/> and running loads and saves see their token cancelled; the stop
    /// still waits for running batches to end.</param>
    /// <returns>A task that completes when every batch has ended.</returns>
    public Task StopAsync(CancellationToken cancellationToken = default)
    {
        lock (_stopLock)
        {
            _stop ??= StopCoreAsync();
        }

        if (cancellationToken.CanBeCanceled && !_stop.IsCompleted)
        {
            var registration = cancellationToken.UnsafeRegister(static s => TryCancel((CancellationTokenSource)s!), _abandon);
            _stop.ContinueWith(static (_, r) => ((CancellationTokenRegistration)r!).Dispose(), registration, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }

        return _stop;
    }

    /// <summary>Stops the processor; see <see cref="StopAsync(CancellationToken)"/>.</summary>
    /// <returns>A task that completes when every batch has ended.</returns>
    public ValueTask DisposeAsync() => new(StopAsync());

    /// <summary>Queues the operation, or completes it at once when it is cancelled already or rejected.</summary>
    private void Submit(string key, PendingOperation operation, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (cancellationToken.IsCancellationRequested)
        {
            _metrics?.Operations(_name, "canceled");
            operation.Reject(new OperationCanceledException(cancellationToken));
            return;
        }

        if (Activity.Current is { } caller)
        {
            operation.CallerActivity = caller.Context;
        }

        Interlocked.Increment(ref _intake);
        try
        {
            if (Volatile.Read(ref _stopped) != 0)
            {
                _metrics?.Operations(_name, "rejected");
                operation.Reject(new BatchProcessorStoppedException($"Batch processor '{_name}' is stopped; the operation did not run."));
                return;
            }

            while (true)
            {
                var queue = _keys.GetOrAdd(key, static (k, owner) => new KeyQueue(k, owner), this);
                bool startLoop;
                lock (queue)
                {
                    if (queue.Retired)
                    {
                        // The key's loop ended and left the table between our lookup and our lock: take a fresh entry.
                        continue;
                    }

                    if (queue.Waiting >= _maxPendingPerKey)
                    {
                        _metrics?.Operations(_name, "rejected");
                        operation.Reject(new BatchQueueFullException(
                            $"Batch processor '{_name}': key '{key}' has {queue.Waiting} operations waiting (MaxPendingPerKey); the operation was not queued."));
                        return;
                    }

                    operation.Queue = queue;
                    queue.Pending.Enqueue(operation);
                    queue.Waiting++;
                    startLoop = !queue.Running;
                    queue.Running = true;
                    queue.Arrival?.TrySetResult();
                }

                if (cancellationToken.CanBeCanceled)
                {
                    operation.WithdrawOn(cancellationToken);
                }

                if (startLoop)
                {
                    Interlocked.Increment(ref _activeLoops);
                    _ = Task.Run(() => RunLoopAsync(queue), CancellationToken.None);
                }

                return;
            }
        }
        finally
        {
            Interlocked.Decrement(ref _intake);
        }
    }

    /// <summary>Runs the key's batches one after another until nothing waits; then the key leaves the table.</summary>
    private async Task RunLoopAsync(KeyQueue queue)
    {
        try
        {
            while (true)
            {
                SemaphoreSlim? worker = null;
                try
                {
                    worker = WorkerFor(queue.Key);
                    await worker.WaitAsync(_abandon.Token).ConfigureAwait(false);
                    if (_abandon.IsCancellationRequested)
                    {
                        // A worker freed by a batch that the cut-short stop gave up on: this batch must not start.
                        worker.Release();
                        _abandon.Token.ThrowIfCancellationRequested();
                    }
                }
                catch (Exception exception) when (exception is OperationCanceledException || worker is null)
                {
                    RejectWaiting(queue, exception is OperationCanceledException
                        ? new BatchProcessorStoppedException($"Batch processor '{_name}' stopped before this operation's batch could start.")
                        : new BatchAbortedException($"Batch processor '{_name}': no worker for key '{queue.Key}'.", exception));
                    return;
                }

                try
                {
                    await RunBatchAsync(queue).ConfigureAwait(false);
                }
                catch (Exception exception)
                {
                    // Not a store or operation failure (those abort the batch): fail every waiting caller loudly
                    // rather than leave them hanging.
                    RejectWaiting(queue, new BatchAbortedException($"Batch processor '{_name}' failed: {exception.Message}", exception));
                    return;
                }
                finally
                {
                    worker.Release();
                }

                lock (queue)
                {
                    if (queue.Waiting == 0)
                    {
                        queue.Pending.Clear();
                        queue.Running = false;
                        queue.Retired = true;
                        _keys.TryRemove(KeyValuePair.Create(queue.Key, queue));
                        return;
                    }
                }
            }
        }
        finally
        {
            if (Interlocked.Decrement(ref _activeLoops) == 0 && Volatile.Read(ref _stopped) != 0)
            {
                _drained.TrySetResult();
            }
        }
    }

    private SemaphoreSlim WorkerFor(string key)
    {
        if (_pinnedWorkers is null)
        {
            return _workers;
        }

        var index = _workerForKey!(key, _pinnedWorkers.Length);
        return (uint)index < (uint)_pinnedWorkers.Length
            ? _pinnedWorkers[index]
            : throw new InvalidOperationException($"WorkerForKey returned {index} for {_pinnedWorkers.Length} workers; allowed 0 to {_pinnedWorkers.Length - 1}.");
    }

    private async Task RunBatchAsync(KeyQueue queue)
    {
        var started = _timeProvider.GetTimestamp();
        using var deadline = new CancellationTokenSource(_maxDuration, _timeProvider);

        // Every wait on the store (load, save, scope disposal) ends at the deadline or when the stop is cut short, even
        // if the store ignores its token: the batch then gives up on it, and its callers are answered.
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(deadline.Token, _abandon.Token);

        // The window's timer starts with the batch, so its end is fixed whatever happens while the batch loads.
        using var windowTimer = _minDuration > TimeSpan.Zero ? new CancellationTokenSource(_minDuration, _timeProvider) : null;
        using var window = windowTimer is null ? null : CancellationTokenSource.CreateLinkedTokenSource(windowTimer.Token, _stopping.Token, deadline.Token);
        using var activity = CoordinationDiagnostics.ActivitySource.StartActivity(ActivityOperationName, ActivityKind.Internal);
        if (activity is not null)
        {
            activity.DisplayName = _activityDisplayName;
            activity.SetTag(CoordinationDiagnostics.NameTag, _name);
        }

        var batch = new List<PendingOperation>();
        Exception? abort = null;
        StoreLease? lease = null;
        Task? storeCall = null;
        try
        {
            // The scope is opened before the store is resolved, so it is disposed below even when resolving throws.
            lease = _openStore();
            var store = lease.Value.Resolve();
            var loading = store.LoadAsync(queue.Key, limit.Token).AsTask();
            storeCall = loading;
            var resource = await loading.WaitAsync(limit.Token).ConfigureAwait(false)
                ?? throw new InvalidOperationException($"The store of batch processor '{_name}' loaded null for key '{queue.Key}'.");

            abort = await RunOperationsAsync(queue, resource, batch, activity, window?.Token, deadline.Token).ConfigureAwait(false);
            if (abort is null && batch.Count > 0)
            {
                storeCall = store.SaveAsync(queue.Key, resource, limit.Token).AsTask();
                await storeCall.WaitAsync(limit.Token).ConfigureAwait(false);
            }
        }
        catch (Exception exception)
        {
            abort = exception is not OperationCanceledException ? exception
                : deadline.IsCancellationRequested ? new TimeoutException($"The batch passed its MaxDuration of {_maxDuration}.", exception)
                : _abandon.IsCancellationRequested ? new BatchProcessorStoppedException($"Batch processor '{_name}' was stopped with a cancelled token before the batch ended.", exception)
                : exception;
        }

        await EndStoreLeaseAsync(lease?.Scope, storeCall, limit.Token).ConfigureAwait(false);
        if (abort is not null)
        {
            // Callers that would have formed this batch fail with it at once, instead of each retrying the load in turn.
            TakeWaiting(queue, batch);
            var aborted = new BatchAbortedException($"Batch processor '{_name}': the batch for key '{queue.Key}' was aborted: {abort.Message}", abort);
            var count = 0;
            foreach (var operation in batch)
            {
                if (operation.Abort(aborted))
                {
                    count++;
                }
            }

            BatchLog.BatchAborted(_logger, _name, batch.Count, abort);
            _metrics?.Operations(_name, "aborted", count, abort);
            activity?.SetStatus(ActivityStatusCode.Error);
            activity?.SetTag(CoordinationDiagnostics.ErrorTypeTag, abort.GetType().FullName);
        }
        else
        {
            var succeeded = 0;
            foreach (var operation in batch)
            {
                if (operation.Succeed())
                {
                    succeeded++;
                }
            }

            _metrics?.Operations(_name, "succeeded", succeeded);
        }

        _metrics?.Batch(_name, batch.Count, _timeProvider.GetElapsedTime(started), abort);
    }

    /// <summary>Disposes the batch's scope within the batch's limit; never throws, so the callers are always answered.</summary>
    /// <remarks>A store call the batch gave up on may still be using the scope: it is disposed when that call ends.</remarks>
    private async Task EndStoreLeaseAsync(IAsyncDisposable? scope, Task? storeCall, CancellationToken limit)
    {
        if (storeCall is { IsCompleted: false })
        {
            BatchLog.StoreCallAbandoned(_logger, _name, _maxDuration);
            _ = DisposeWhenEndedAsync(scope, storeCall);
            return;
        }

        if (scope is null)
        {
            return;
        }

        Task disposing;
        try
        {
            disposing = scope.DisposeAsync().AsTask();
        }
        catch (Exception exception)
        {
            disposing = Task.FromException(exception);
        }

        try
        {
            await disposing.WaitAsync(limit).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!disposing.IsCompleted)
        {
            BatchLog.ScopeDisposalAbandoned(_logger, _name, _maxDuration);
            _ = ObserveDisposalAsync(disposing);
        }
        catch (Exception exception)
        {
            // The batch's outcome stands: a save that succeeded is saved.
            BatchLog.ScopeDisposalFailed(_logger, _name, exception);
        }
    }

    private async Task DisposeWhenEndedAsync(IAsyncDisposable? scope, Task storeCall)
    {
        await storeCall.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        if (scope is not null)
        {
            await ObserveDisposalAsync(scope.DisposeAsync().AsTask()).ConfigureAwait(false);
        }
    }

    private async Task ObserveDisposalAsync(Task disposing)
    {
        try
        {
            await disposing.ConfigureAwait(false);
        }
        catch (Exception exception)
        {
            BatchLog.ScopeDisposalFailed(_logger, _name, exception);
        }
    }

    /// <summary>Runs the waiting operations on the loaded resource until the batch closes; returns the cause if it must abort.</summary>
    private async Task<Exception?> RunOperationsAsync(KeyQueue queue, TResource resource, List<PendingOperation> batch, Activity? activity, CancellationToken? windowClosed, CancellationToken deadline)
    {
        while (true)
        {
            while (batch.Count < _maxBatchSize && TryTake(queue, out var operation))
            {
                batch.Add(operation);
                if (operation.CallerActivity is { } caller)
                {
                    activity?.AddLink(new ActivityLink(caller));
                }

                if (!operation.Apply(resource))
                {
                    _metrics?.Operations(_name, "failed", error: operation.Error);
                    BatchLog.OperationFailed(_logger, _name, operation.Error!);
                }

                if (deadline.IsCancellationRequested)
                {
                    return new TimeoutException($"The batch passed its MaxDuration of {_maxDuration} while running operations.");
                }
            }

            if (batch.Count >= _maxBatchSize || windowClosed is not { IsCancellationRequested: false } open)
            {
                return null;
            }

            // A window is open: wait for the next operation or the window's end, whichever comes first.
            Task arrival;
            lock (queue)
            {
                if (queue.Waiting > 0)
                {
                    continue;
                }

                queue.Arrival = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                arrival = queue.Arrival.Task;
            }

            await arrival.WaitAsync(open).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);

            lock (queue)
            {
                queue.Arrival = null;
            }
        }
    }

    private static bool TryTake(KeyQueue queue, [NotNullWhen(true)] out PendingOperation? operation)
    {
        lock (queue)
        {
            while (queue.Pending.TryDequeue(out operation))
            {
                if (operation.TryStart())
                {
                    queue.Waiting--;
                    return true;
                }
            }
        }

        return false;
    }

    private void TakeWaiting(KeyQueue queue, List<PendingOperation> batch)
    {
        while (batch.Count < _maxBatchSize && TryTake(queue, out var operation))
        {
            batch.Add(operation);
        }
    }

    private void RejectWaiting(KeyQueue queue, Exception error)
    {
        var rejected = new List<PendingOperation>();
        lock (queue)
        {
            while (queue.Pending.TryDequeue(out var operation))
            {
                if (operation.TryStart())
                {
                    rejected.Add(operation);
                }
            }

            queue.Waiting = 0;
            queue.Running = false;
            queue.Retired = true;
            _keys.TryRemove(KeyValuePair.Create(queue.Key, queue));
        }

        foreach (var operation in rejected)
        {
            operation.Abort(error);
        }

        _metrics?.Operations(_name, "rejected", rejected.Count, error);
    }

    private async Task StopCoreAsync()
    {
        Interlocked.Exchange(ref _stopped, 1);

        // A call that saw the processor running is inside its intake section; once those are out, every accepted
        // operation is in a queue whose loop is counted.
        var spinner = default(SpinWait);
        while (Volatile.Read(ref _intake) != 0)
        {
            spinner.SpinOnce();
        }

        // Open windows close at once: their batches save now.
        TryCancel(_stopping);
        if (Volatile.Read(ref _activeLoops) != 0)
        {
            await _drained.Task.ConfigureAwait(false);
        }
    }

    private static void TryCancel(CancellationTokenSource source)
    {
        try
        {
            source.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // Already stopped.
        }
    }

    /// <summary>The store of one batch: <see cref="Resolve"/> creates it in <see cref="Scope"/>, which the batch disposes.</summary>
    internal readonly record struct StoreLease(Func<IBatchResourceStore<TResource>> Resolve, IAsyncDisposable? Scope);

    /// <summary>One key's queue; lives while the key has operations waiting or a batch running.</summary>
    private sealed class KeyQueue(string key, BatchProcessor<TResource> owner)
    {
        public readonly string Key = key;
        public readonly BatchProcessor<TResource> Owner = owner;

        // Guarded by lock (this).
        public readonly Queue<PendingOperation> Pending = new();
        public int Waiting;
        public bool Running;
        public bool Retired;
        public TaskCompletionSource? Arrival;
    }

    /// <summary>An operation and its caller's completion; its state moves once from waiting to started or withdrawn.</summary>
    private abstract class PendingOperation
    {
        private const int StateWaiting = 0;
        private const int StateStarted = 1;
        private const int StateWithdrawn = 2;

        private int _state;
        private CancellationTokenRegistration _withdrawal;

        public KeyQueue Queue { get; set; } = null!;

        public ActivityContext? CallerActivity { get; set; }

        public Exception? Error { get; private set; }

        /// <summary>Takes the operation into a batch, unless its caller withdrew it first.</summary>
        public bool TryStart()
        {
            if (Interlocked.CompareExchange(ref _state, StateStarted, StateWaiting) != StateWaiting)
            {
                return false;
            }

            _withdrawal.Dispose();
            return true;
        }

        public void WithdrawOn(CancellationToken cancellationToken)
        {
            _withdrawal = cancellationToken.UnsafeRegister(static (state, token) => ((PendingOperation)state!).Withdraw(token), this);
            if (Volatile.Read(ref _state) == StateStarted)
            {
                // A batch took the operation before the registration existed: it is no longer withdrawable.
                _withdrawal.Dispose();
            }
        }

        /// <summary>Runs the operation; an exception fails only this caller, at once.</summary>
        public bool Apply(TResource resource)
        {
            try
            {
                Run(resource);
                return true;
            }
            catch (Exception exception)
            {
                Error = exception;
                Fail(exception);
                return false;
            }
        }

        /// <summary>Completes the caller after the save; <see langword="false"/> if its operation had failed already.</summary>
        public bool Succeed() => Error is null && Complete();

        /// <summary>Completes a caller whose operation was never queued: cancelled (with its own token) or failed.</summary>
        public void Reject(Exception error)
        {
            if (error is OperationCanceledException cancelled)
            {
                Cancel(cancelled.CancellationToken);
            }
            else
            {
                Fail(error);
            }
        }

        /// <summary>Fails the caller with the batch's abort; <see langword="false"/> if its operation had failed already.</summary>
        public bool Abort(Exception error)
        {
            if (Error is not null)
            {
                return false;
            }

            Fail(error);
            return true;
        }

        protected abstract void Run(TResource resource);

        protected abstract bool Complete();

        protected abstract void Fail(Exception error);

        protected abstract void Cancel(CancellationToken cancellationToken);

        private void Withdraw(CancellationToken cancellationToken)
        {
            if (Interlocked.CompareExchange(ref _state, StateWithdrawn, StateWaiting) != StateWaiting)
            {
                return;
            }

            lock (Queue)
            {
                Queue.Waiting--;
            }

            Queue.Owner._metrics?.Operations(Queue.Owner._name, "canceled");
            Cancel(cancellationToken);
        }
    }

    private sealed class ActionOperation(Action<TResource> operation) : PendingOperation
    {
        private readonly TaskCompletionSource _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task Task => _completion.Task;

        protected override void Run(TResource resource) => operation(resource);

        protected override bool Complete() => _completion.TrySetResult();

        protected override void Fail(Exception error) => _completion.TrySetException(error);

        protected override void Cancel(CancellationToken cancellationToken) => _completion.TrySetCanceled(cancellationToken);
    }

    private sealed class FuncOperation<TResult>(Func<TResource, TResult> operation) : PendingOperation
    {
        private readonly TaskCompletionSource<TResult> _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private TResult? _result;

        public Task<TResult> Task => _completion.Task;

        protected override void Run(TResource resource) => _result = operation(resource);

        protected override bool Complete() => _completion.TrySetResult(_result!);

        protected override void Fail(Exception error) => _completion.TrySetException(error);

        protected override void Cancel(CancellationToken cancellationToken) => _completion.TrySetCanceled(cancellationToken);
    }

    /// <summary>Loads and saves through the option delegates; by default a new resource, and no save.</summary>
    private sealed class DelegateStore(
        Func<string, CancellationToken, ValueTask<TResource>>? load,
        Func<string, TResource, CancellationToken, ValueTask>? save) : IBatchResourceStore<TResource>
    {
        public ValueTask<TResource> LoadAsync(string key, CancellationToken cancellationToken) =>
            load?.Invoke(key, cancellationToken) ?? new ValueTask<TResource>(Activator.CreateInstance<TResource>());

        public ValueTask SaveAsync(string key, TResource resource, CancellationToken cancellationToken) =>
            save?.Invoke(key, resource, cancellationToken) ?? ValueTask.CompletedTask;
    }
}
