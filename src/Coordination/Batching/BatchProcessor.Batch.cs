using System.Diagnostics;
using Coordination.Diagnostics;

namespace Coordination.Batching;

/// <content>One batch: load, the operations in arrival order, save, and the answer to every caller, within the batch's limit.</content>
public sealed partial class BatchProcessor<TResource>
{
    private async Task RunBatchAsync(BatchKeyQueue<TResource> queue)
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

        var batch = new List<BatchOperation<TResource>>();
        Exception? abort = null;
        BatchStoreLease<TResource>? lease = null;
        Task? storeCall = null;
        try
        {
            // The scope is opened before the store is resolved, so it is disposed below even when resolving throws.
            lease = _openStore();
            var store = lease.Resolve();
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

        if (lease is not null)
        {
            await lease.EndAsync(storeCall, _name, _maxDuration, _logger, limit.Token).ConfigureAwait(false);
        }

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

    /// <summary>Runs the waiting operations on the loaded resource until the batch closes; returns the cause if it must abort.</summary>
    private async Task<Exception?> RunOperationsAsync(BatchKeyQueue<TResource> queue, TResource resource, List<BatchOperation<TResource>> batch, Activity? activity, CancellationToken? windowClosed, CancellationToken deadline)
    {
        while (true)
        {
            while (batch.Count < _maxBatchSize && queue.TryTake(out var operation))
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

    private void TakeWaiting(BatchKeyQueue<TResource> queue, List<BatchOperation<TResource>> batch)
    {
        while (batch.Count < _maxBatchSize && queue.TryTake(out var operation))
        {
            batch.Add(operation);
        }
    }
}
