using System.Diagnostics.CodeAnalysis;

namespace Coordination.Batching;

/// <summary>The workers of a batch processor: one pool for every key, or, with <c>WorkerForKey</c>, one worker per pin.</summary>
[SuppressMessage("Design", "CA1001:Types that own disposable fields should be disposable", Justification = "A SemaphoreSlim holds no OS handle unless its AvailableWaitHandle is read, and it never is.")]
internal sealed class BatchWorkerPool
{
    private readonly SemaphoreSlim _shared;
    private readonly SemaphoreSlim[]? _pinned;
    private readonly Func<string, int, int>? _workerForKey;

    public BatchWorkerPool(int workers, Func<string, int, int>? workerForKey)
    {
        _shared = new SemaphoreSlim(workers, workers);
        _workerForKey = workerForKey;
        if (workerForKey is not null)
        {
            _pinned = [.. Enumerable.Range(0, workers).Select(_ => new SemaphoreSlim(1, 1))];
        }
    }

    /// <summary>The worker a batch of <paramref name="key"/> must hold while it runs.</summary>
    /// <exception cref="InvalidOperationException"><c>WorkerForKey</c> returned an index out of range.</exception>
    public SemaphoreSlim For(string key)
    {
        if (_pinned is null)
        {
            return _shared;
        }

        var index = _workerForKey!(key, _pinned.Length);
        return (uint)index < (uint)_pinned.Length
            ? _pinned[index]
            : throw new InvalidOperationException($"WorkerForKey returned {index} for {_pinned.Length} workers; allowed 0 to {_pinned.Length - 1}.");
    }
}
