using System.Diagnostics;
using System.Diagnostics.Metrics;
using Coordination.Tasks;

namespace Coordination.Diagnostics;

/// <summary>The task queue instruments, created once per meter factory.</summary>
internal sealed class TaskMetrics
{
    public const string StateTag = "coordination.tasks.state";

    private readonly Counter<long> _claimed;
    private readonly Counter<long> _completed;
    private readonly Counter<long> _failed;
    private readonly Counter<long> _deadLettered;
    private readonly Counter<long> _leaseLost;
    private readonly Histogram<double> _lag;
    private readonly Lock _sync = new();
    private readonly List<QueueDepth> _queues = [];

    public TaskMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(CoordinationDiagnostics.MeterName);
        _claimed = meter.CreateCounter<long>("coordination.tasks.claimed", unit: "{task}", description: "Tasks claimed by hosted workers.");
        _completed = meter.CreateCounter<long>("coordination.tasks.completed", unit: "{task}", description: "Tasks whose handler succeeded; they are deleted.");
        _failed = meter.CreateCounter<long>("coordination.tasks.failed", unit: "{task}", description: "Handler runs that threw, by error type.");
        _deadLettered = meter.CreateCounter<long>("coordination.tasks.dead_lettered", unit: "{task}", description: "Tasks moved to their queue's error group.");
        _leaseLost = meter.CreateCounter<long>("coordination.tasks.lease.lost", unit: "{task}", description: "Task runs whose lease was lost; what they did was not committed.");
        _lag = meter.CreateHistogram<double>(
            "coordination.tasks.queue.lag",
            unit: "s",
            description: "Time from a task being ready to its claim.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300] });
        meter.CreateObservableGauge(
            "coordination.tasks.queue.depth",
            ObserveDepths,
            unit: "{task}",
            description: "Tasks in a queue by state: ready, leased, scheduled, dead_lettered (in its error group).");
    }

    /// <summary>Observes the depth of <paramref name="queue"/> from now on, and starts its counters at zero.</summary>
    /// <remarks>A series appears in Prometheus only once it has a value: starting the counters at zero lets a dashboard
    /// show "0 lease losses" (and <c>rate()</c> work from the first increment) instead of "no data".</remarks>
    public void Register(TaskQueue queue)
    {
        lock (_sync)
        {
            _queues.Add(new QueueDepth(queue));
        }

        foreach (var counter in (ReadOnlySpan<Counter<long>>)[_claimed, _completed, _deadLettered, _leaseLost])
        {
            Count(counter, queue.Name, 0);
        }
    }

    public void Claimed(string name, TimeSpan lag)
    {
        if (_claimed.Enabled || _lag.Enabled)
        {
            var tags = new TagList { { CoordinationDiagnostics.NameTag, name } };
            _claimed.Add(1, tags);
            _lag.Record(Math.Max(0, lag.TotalSeconds), tags);
        }
    }

    public void Completed(string name) => Count(_completed, name);

    public void Failed(string name, Exception error)
    {
        if (_failed.Enabled)
        {
            _failed.Add(1, new TagList { { CoordinationDiagnostics.NameTag, name }, { CoordinationDiagnostics.ErrorTypeTag, error.GetType().FullName } });
        }
    }

    public void DeadLettered(string name) => Count(_deadLettered, name);

    public void LeaseLost(string name) => Count(_leaseLost, name);

    private static void Count(Counter<long> counter, string name, long value = 1)
    {
        if (counter.Enabled)
        {
            counter.Add(value, new KeyValuePair<string, object?>(CoordinationDiagnostics.NameTag, name));
        }
    }

    private List<Measurement<int>> ObserveDepths()
    {
        QueueDepth[] queues;
        lock (_sync)
        {
            queues = [.. _queues];
        }

        var measurements = new List<Measurement<int>>(queues.Length * 4);
        foreach (var queue in queues)
        {
            queue.Observe(measurements);
        }

        return measurements;
    }

    /// <summary>The last counts read from one queue's store.</summary>
    /// <remarks>Observable instruments are read synchronously, and a store may count only asynchronously (a database
    /// query). A count the store completes at once (the in-memory store) is reported as it is; otherwise the gauge
    /// reports the counts of the previous collection and starts a new count for the next one, so a collection never
    /// blocks on the store and never starts two counts at once.</remarks>
    private sealed class QueueDepth(TaskQueue queue)
    {
        private readonly Lock _sync = new();
        private (TaskGroupCounts Queue, int DeadLettered)? _last;
        private Task? _counting;

        public void Observe(List<Measurement<int>> measurements)
        {
            var counts = Read();
            if (counts is not { } known)
            {
                return;
            }

            var name = new KeyValuePair<string, object?>(CoordinationDiagnostics.NameTag, queue.Name);
            measurements.Add(new(known.Queue.Ready, name, new(StateTag, "ready")));
            measurements.Add(new(known.Queue.Leased, name, new(StateTag, "leased")));
            measurements.Add(new(known.Queue.Scheduled, name, new(StateTag, "scheduled")));
            measurements.Add(new(known.DeadLettered, name, new(StateTag, "dead_lettered")));
        }

        private (TaskGroupCounts Queue, int DeadLettered)? Read()
        {
            if (Volatile.Read(ref _counting) is not { IsCompleted: false })
            {
                // Completes at once with a store that counts synchronously, which updates _last before it is read.
                var counting = CountAsync();
                if (!counting.IsCompleted)
                {
                    Volatile.Write(ref _counting, counting);
                }
            }

            lock (_sync)
            {
                return _last;
            }
        }

        private async Task CountAsync()
        {
            try
            {
                var ready = await queue.Store.CountAsync(queue.Group).ConfigureAwait(false);
                var errors = await queue.Store.CountAsync(queue.ErrorGroup).ConfigureAwait(false);
                lock (_sync)
                {
                    _last = (ready, errors.Total);
                }
            }
            catch (Exception)
            {
                // The store is unreachable: the gauge keeps its last counts; the workers log the outage.
            }
        }
    }
}
