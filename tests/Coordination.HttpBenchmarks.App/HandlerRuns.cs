using System.Collections.Concurrent;

namespace Coordination.HttpBenchmarks;

/// <summary>How often each endpoint's handler ran (and, for the herd, how often its run was cancelled), by name
/// (<c>sf/herd</c>, <c>oc/fast</c>, …); read by the driver through <c>/diag/runs</c>.</summary>
internal sealed class HandlerRuns
{
    private readonly ConcurrentDictionary<string, Counter> _counters = new(StringComparer.Ordinal);

    /// <summary>Gets the counter of one endpoint; handlers keep it, so a request costs one interlocked increment.</summary>
    public Counter For(string name) => _counters.GetOrAdd(name, _ => new Counter());

    public IReadOnlyDictionary<string, long> Snapshot()
    {
        var snapshot = new SortedDictionary<string, long>(StringComparer.Ordinal);
        foreach (var (name, counter) in _counters)
        {
            snapshot[name] = counter.Runs;
            snapshot[name + ":canceled"] = counter.Canceled;
        }

        return snapshot;
    }

    internal sealed class Counter
    {
        private long _runs;
        private long _canceled;

        public long Runs => Volatile.Read(ref _runs);

        public long Canceled => Volatile.Read(ref _canceled);

        /// <summary>Counts a run and returns its number (from 1).</summary>
        public long Started() => Interlocked.Increment(ref _runs);

        public void WasCanceled() => Interlocked.Increment(ref _canceled);
    }
}
