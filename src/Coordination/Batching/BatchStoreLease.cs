using Coordination.Diagnostics;
using Microsoft.Extensions.Logging;

namespace Coordination.Batching;

/// <summary>The store of one batch and the DI scope it is resolved in, opened before the store is resolved so that the
/// scope is disposed even when resolving the store throws.</summary>
internal sealed class BatchStoreLease<TResource>(Func<IBatchResourceStore<TResource>> resolve, IAsyncDisposable? scope)
    where TResource : class
{
    public IBatchResourceStore<TResource> Resolve() => resolve();

    /// <summary>Disposes the scope within the batch's limit; never throws, so that the batch's callers are always answered.</summary>
    /// <param name="storeCall">The last load or save; if the batch gave up on it, it may still use the scope, which is then
    /// disposed when it ends.</param>
    /// <param name="name">The processor's name, for the logs.</param>
    /// <param name="maxDuration">The processor's MaxDuration, for the logs.</param>
    /// <param name="logger">The processor's logger.</param>
    /// <param name="limit">The batch's limit: its MaxDuration, or a stop with a cancelled token.</param>
    public async Task EndAsync(Task? storeCall, string name, TimeSpan maxDuration, ILogger logger, CancellationToken limit)
    {
        if (storeCall is { IsCompleted: false })
        {
            BatchLog.StoreCallAbandoned(logger, name, maxDuration);
            _ = DisposeWhenEndedAsync(storeCall, name, logger);
            return;
        }

        if (scope is null)
        {
            return;
        }

        var disposing = StartDisposal();
        try
        {
            await disposing.WaitAsync(limit).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!disposing.IsCompleted)
        {
            BatchLog.ScopeDisposalAbandoned(logger, name, maxDuration);
            _ = ObserveAsync(disposing, name, logger);
        }
        catch (Exception exception)
        {
            // The batch's outcome stands: a save that succeeded is saved.
            BatchLog.ScopeDisposalFailed(logger, name, exception);
        }
    }

    private static async Task ObserveAsync(Task disposing, string name, ILogger logger)
    {
        try
        {
            await disposing.ConfigureAwait(false);
        }
        catch (Exception exception)
        {
            BatchLog.ScopeDisposalFailed(logger, name, exception);
        }
    }

    private async Task DisposeWhenEndedAsync(Task storeCall, string name, ILogger logger)
    {
        await storeCall.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        if (scope is not null)
        {
            await ObserveAsync(StartDisposal(), name, logger).ConfigureAwait(false);
        }
    }

    private Task StartDisposal()
    {
        try
        {
            return scope!.DisposeAsync().AsTask();
        }
        catch (Exception exception)
        {
            return Task.FromException(exception);
        }
    }
}
