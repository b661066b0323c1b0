using System.Collections.Concurrent;
using System.Diagnostics;

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
            snapshot[name + ":busy-us"] = counter.BusyMicroseconds;
        }

        return snapshot;
    }

    internal sealed class Counter
    {
        private readonly Lock _lock = new();
        private long _runs;
        private long _canceled;
        private int _running;
        private long _busySince;
        private long _busyTicks;

        public long Runs => Volatile.Read(ref _runs);

        public long Canceled => Volatile.Read(ref _canceled);

        /// <summary>How long, in all, at least one run of this handler (counted with <see cref="StartedTimed"/>) was in
        /// progress. In a coalesced herd the rest of the time is each cycle's idle part: answering the followers and
        /// starting the next run.</summary>
        public long BusyMicroseconds
        {
            get
            {
                lock (_lock)
                {
                    return (long)Stopwatch.GetElapsedTime(0, _busyTicks).TotalMicroseconds;
                }
            }
        }

        /// <summary>Counts a run and returns its number (from 1).</summary>
        public long Started() => Interlocked.Increment(ref _runs);

        /// <summary>Counts a run that <see cref="Ended"/> will close, timing it in <see cref="BusyMicroseconds"/>.</summary>
        public long StartedTimed()
        {
            lock (_lock)
            {
                if (_running++ == 0)
                {
                    _busySince = Stopwatch.GetTimestamp();
                }
            }

            return Started();
        }

        public void Ended()
        {
            lock (_lock)
            {
                if (--_running == 0)
                {
                    _busyTicks += Stopwatch.GetTimestamp() - _busySince;
                }
            }
        }

        public void WasCanceled() => Interlocked.Increment(ref _canceled);
    }
}
