using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Coordination.Diagnostics;

/// <summary>The batch processor instruments, created once per meter factory.</summary>
internal sealed class BatchMetrics
{
    public const string ResultTag = "coordination.batch.result";

    private readonly Counter<long> _operations;
    private readonly Histogram<int> _size;
    private readonly Histogram<double> _duration;
    private readonly Counter<long> _aborted;

    public BatchMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(CoordinationDiagnostics.MeterName);
        _operations = meter.CreateCounter<long>(
            "coordination.batch.operations",
            unit: "{operation}",
            description: "Operations that went through a batch processor, by result.");
        _size = meter.CreateHistogram<int>(
            "coordination.batch.size",
            unit: "{operation}",
            description: "Operations per batch.",
            advice: new InstrumentAdvice<int> { HistogramBucketBoundaries = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024] });
        _duration = meter.CreateHistogram<double>(
            "coordination.batch.duration",
            unit: "s",
            description: "Duration of a batch: load, operations and save.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 10] });
        _aborted = meter.CreateCounter<long>(
            "coordination.batch.aborted",
            unit: "{batch}",
            description: "Batches aborted as a whole (the load or the save threw, or MaxDuration passed), by error type.");
    }

    /// <summary>Counts operations by result: <c>succeeded</c>, <c>failed</c> (the operation threw), <c>aborted</c>,
    /// <c>canceled</c>, <c>rejected</c> (queue full or stopped).</summary>
    public void Operations(string name, string result, int count = 1, Exception? error = null)
    {
        if (count > 0 && _operations.Enabled)
        {
            var tags = new TagList { { CoordinationDiagnostics.NameTag, name }, { ResultTag, result } };
            if (error is not null)
            {
                tags.Add(CoordinationDiagnostics.ErrorTypeTag, error.GetType().FullName);
            }

            _operations.Add(count, tags);
        }
    }

    public void Batch(string name, int size, TimeSpan duration, Exception? error)
    {
        if (!_size.Enabled && !_duration.Enabled && !_aborted.Enabled)
        {
            return;
        }

        var tags = new TagList { { CoordinationDiagnostics.NameTag, name } };
        if (error is not null)
        {
            tags.Add(CoordinationDiagnostics.ErrorTypeTag, error.GetType().FullName);
        }

        _size.Record(size, tags);
        _duration.Record(duration.TotalSeconds, tags);
        if (error is not null)
        {
            _aborted.Add(1, tags);
        }
    }
}
