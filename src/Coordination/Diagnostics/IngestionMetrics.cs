using System.Diagnostics.Metrics;
using Coordination.Barriers;

namespace Coordination.Diagnostics;

/// <summary>The ordered-ingestion and keyed-barrier instruments, created once per meter factory.</summary>
internal sealed class IngestionMetrics
{
    public const string ResultTag = "coordination.ingestion.result";

    private readonly Counter<long> _events;
    private readonly Lock _sync = new();
    private readonly List<(string Name, KeyedBarrier Barrier)> _barriers = [];

    public IngestionMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(CoordinationDiagnostics.MeterName);
        _events = meter.CreateCounter<long>(
            "coordination.ingestion.events",
            unit: "{event}",
            description: "Ingested events by result: accepted, succeeded, failed (retryable), waiting, aborted (dead-lettered).");
        meter.CreateObservableGauge(
            "coordination.barrier.entries",
            () => Observe(static s => s.Entries),
            unit: "{key}",
            description: "Keys the barrier holds an entry for (blocked or draining).");
        meter.CreateObservableGauge(
            "coordination.barrier.keys.blocked",
            () => Observe(static s => s.BlockedKeys),
            unit: "{key}",
            description: "Keys held behind a failed event.");
        meter.CreateObservableGauge(
            "coordination.barrier.blocked.age",
            () => Observe(static s => s.OldestBlockedAge.TotalSeconds),
            unit: "s",
            description: "How long the oldest blocked key has been blocked.");
        meter.CreateObservableCounter(
            "coordination.barrier.illegal_sequences",
            () => Observe(static s => s.IllegalSequences),
            unit: "{event}",
            description: "Events that arrived after a later event of their key had failed, held instead of thrown.");
    }

    public void Register(string name, KeyedBarrier barrier)
    {
        lock (_sync)
        {
            _barriers.Add((name, barrier));
        }
    }

    public void Events(string name, string result, int count = 1)
    {
        if (count > 0 && _events.Enabled)
        {
            _events.Add(count, new KeyValuePair<string, object?>(CoordinationDiagnostics.NameTag, name), new KeyValuePair<string, object?>(ResultTag, result));
        }
    }

    private List<Measurement<T>> Observe<T>(Func<(int Entries, int BlockedKeys, TimeSpan OldestBlockedAge, long IllegalSequences), T> read)
        where T : struct
    {
        lock (_sync)
        {
            return [.. _barriers.Select(b =>
            {
                var (entries, blocked, age) = b.Barrier.GetStatistics();
                return new Measurement<T>(read((entries, blocked, age, b.Barrier.IllegalSequences)), new KeyValuePair<string, object?>(CoordinationDiagnostics.NameTag, b.Name));
            })];
        }
    }
}
