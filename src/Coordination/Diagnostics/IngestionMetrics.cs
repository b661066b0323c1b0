using System.Diagnostics.Metrics;

namespace Coordination.Diagnostics;

/// <summary>The ordered-ingestion and keyed-barrier instruments, created once per meter factory.</summary>
internal sealed class IngestionMetrics
{
    public const string ResultTag = "coordination.ingestion.result";

    private readonly Counter<long> _events;
    private readonly Histogram<double> _lag;
    private readonly Lock _sync = new();
    private readonly List<(string Name, Func<BarrierStatistics> Read)> _barriers = [];

    public IngestionMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(CoordinationDiagnostics.MeterName);
        _events = meter.CreateCounter<long>(
            "coordination.ingestion.events",
            unit: "{event}",
            description: "Ingested events by result: accepted, succeeded, failed (retryable), waiting, aborted (dead-lettered).");
        _lag = meter.CreateHistogram<double>(
            "coordination.ingestion.lag",
            unit: "s",
            description: "Time from an event being accepted to its handling ending, by result: succeeded or aborted (dead-lettered).",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600] });
        meter.CreateObservableGauge(
            "coordination.barrier.entries",
            () => Observe(static s => s.Entries),
            unit: "{key}",
            description: "Keys the barrier holds an entry for (blocked or draining).");
        meter.CreateObservableGauge(
            "coordination.barrier.keys.blocked",
            () => Observe(static s => s.BlockedKeys),
            unit: "{key}",
            description: "Keys held behind a failed event, or parked after a dead letter.");
        meter.CreateObservableGauge(
            "coordination.barrier.blocked.age",
            () => Observe(static s => s.OldestBlockedAge.TotalSeconds),
            unit: "s",
            description: "How long the oldest blocked or parked key has been held.");
        meter.CreateObservableCounter(
            "coordination.barrier.illegal_sequences",
            () => Observe(static s => s.IllegalSequences),
            unit: "{event}",
            description: "Events that arrived after a later event of their key had failed, held instead of thrown.");
    }

    /// <summary>Adds an ingestion's barrier to the gauges; <paramref name="read"/> is called at each observation.</summary>
    public void Register(string name, Func<BarrierStatistics> read)
    {
        lock (_sync)
        {
            _barriers.Add((name, read));
        }
    }

    public void Events(string name, string result, int count = 1)
    {
        if (count > 0 && _events.Enabled)
        {
            _events.Add(count, new KeyValuePair<string, object?>(CoordinationDiagnostics.NameTag, name), new KeyValuePair<string, object?>(ResultTag, result));
        }
    }

    /// <summary>Records how long an event took from being accepted (<paramref name="acceptedAt"/>, by the log's clock)
    /// to reaching <paramref name="result"/>; nothing for a log that does not record when it accepted events.</summary>
    public void Handled(string name, string result, DateTimeOffset acceptedAt, DateTimeOffset now)
    {
        if (acceptedAt != default && _lag.Enabled)
        {
            // The log's clock may be another machine's (a database): a skew must not give a negative lag.
            _lag.Record(
                Math.Max(0, (now - acceptedAt).TotalSeconds),
                new KeyValuePair<string, object?>(CoordinationDiagnostics.NameTag, name),
                new KeyValuePair<string, object?>(ResultTag, result));
        }
    }

    private List<Measurement<T>> Observe<T>(Func<BarrierStatistics, T> read)
        where T : struct
    {
        lock (_sync)
        {
            return [.. _barriers.Select(b => new Measurement<T>(read(b.Read()), new KeyValuePair<string, object?>(CoordinationDiagnostics.NameTag, b.Name)))];
        }
    }

    /// <summary>What the barrier gauges report for one ingestion.</summary>
    public readonly record struct BarrierStatistics(int Entries, int BlockedKeys, TimeSpan OldestBlockedAge, long IllegalSequences);
}
