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
/// <para>Limits: the batch waits for its store (load, save, disposal of its DI scope) until its
/// <see cref="BatchProcessorOptions{TResource}.MaxDuration"/> passes or a stop is cut short, even if the store ignores
/// its token; then it gives up on the call, logs it, and answers its callers.</para>
/// <para>Cancellation: a caller that cancels before its operation ran gets an <see cref="OperationCanceledException"/>
/// and its operation never runs. Once its operation ran, the caller waits for the save, whose outcome is its own.</para>
/// </remarks>
public sealed partial class BatchProcessor<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicParameterlessConstructor)] TResource> : IAsyncDisposable
    where TResource : class
{
    private const string ActivityOperationName = "coordination.batch";

    private readonly ConcurrentDictionary<string, BatchKeyQueue<TResource>> _keys = new(StringComparer.Ordinal);
    private readonly string _name;
    private readonly string _activityDisplayName;
    private readonly TimeSpan _minDuration;
    private readonly TimeSpan _maxDuration;
    private readonly int _maxBatchSize;
    private readonly int? _maxPendingPerKey;
    private readonly BatchWorkerPool _workers;
    private readonly Func<BatchStoreLease<TResource>> _openStore;
    private readonly TimeProvider _timeProvider;
    private readonly BatchMetrics? _metrics;
    private readonly ILogger _logger;
    private readonly Action _countWithdrawn;
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
        Func<BatchStoreLease<TResource>>? store,
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
        _workers = new BatchWorkerPool(options.Workers, options.WorkerForKey);

        if (store is null && options.LoadResource is null && typeof(TResource).GetConstructor(Type.EmptyTypes) is null)
        {
            throw new ArgumentException(
                $"Batch processor '{name}': {typeof(TResource).Name} has no parameterless constructor, so set {nameof(options.LoadResource)} or register a store.",
                nameof(options));
        }

        IBatchResourceStore<TResource> delegates = new DelegateBatchResourceStore<TResource>(options.LoadResource, options.SaveResource);
        var delegateLease = new BatchStoreLease<TResource>(() => delegates, scope: null);
        _openStore = store ?? (() => delegateLease);
        _countWithdrawn = () => _metrics?.Operations(_name, "canceled");
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
        var pending = new ActionBatchOperation<TResource>(operation);
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
        var pending = new FuncBatchOperation<TResource, TResult>(operation);
        Submit(key, pending, cancellationToken);
        return pending.Task;
    }

    /// <summary>
    /// Stops the processor: intake closes at once, batches already queued or running finish and save, and no save
    /// starts after the returned task completes. Safe to call more than once.
    /// </summary>
    /// <param name="cancellationToken">When cancelled (the host's shutdown timeout), batches that have not started yet
    /// are rejected with <see cref="BatchProcessorStoppedException"/>, and running batches stop waiting for their store
    /// at once: their load or save token is cancelled, and their callers get a <see cref="BatchAbortedException"/>. A
    /// store call that ignores its token may then still complete after the stop; it is logged.</param>
    /// <returns>A task that completes when every batch has ended or been given up.</returns>
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
    private void Submit(string key, BatchOperation<TResource> operation, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (cancellationToken.IsCancellationRequested)
        {
            _metrics?.Operations(_name, "canceled");
            operation.Cancel(cancellationToken);
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
                operation.Abort(new BatchProcessorStoppedException($"Batch processor '{_name}' is stopped; the operation did not run."));
                return;
            }

            while (true)
            {
                var queue = _keys.GetOrAdd(key, static (k, owner) => new BatchKeyQueue<TResource>(k, owner._countWithdrawn), this);
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
                        operation.Abort(new BatchQueueFullException(
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
    private async Task RunLoopAsync(BatchKeyQueue<TResource> queue)
    {
        try
        {
            while (true)
            {
                SemaphoreSlim? worker = null;
                try
                {
                    worker = _workers.For(queue.Key);
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

                if (queue.TryRetireIdle(_keys))
                {
                    return;
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

    private void RejectWaiting(BatchKeyQueue<TResource> queue, Exception error)
    {
        var rejected = queue.RetireAndTakeAll(_keys);
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
}
