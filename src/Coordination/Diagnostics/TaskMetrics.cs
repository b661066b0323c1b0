using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Coordination.Diagnostics;

/// <summary>The task queue instruments, created once per meter factory.</summary>
internal sealed class TaskMetrics
{
    private readonly Counter<long> _claimed;
    private readonly Counter<long> _completed;
    private readonly Counter<long> _failed;
    private readonly Counter<long> _deadLettered;
    private readonly Counter<long> _leaseLost;
    private readonly Histogram<double> _lag;

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
    }

    public void Claimed(string name, TimeSpan lag)
    {
        var tags = new TagList { { CoordinationDiagnostics.NameTag, name } };
        _claimed.Add(1, tags);
        _lag.Record(Math.Max(0, lag.TotalSeconds), tags);
    }

    public void Completed(string name) => _completed.Add(1, new KeyValuePair<string, object?>(CoordinationDiagnostics.NameTag, name));

    public void Failed(string name, Exception error) =>
        _failed.Add(1, new TagList { { CoordinationDiagnostics.NameTag, name }, { CoordinationDiagnostics.ErrorTypeTag, error.GetType().FullName } });

    public void DeadLettered(string name) => _deadLettered.Add(1, new KeyValuePair<string, object?>(CoordinationDiagnostics.NameTag, name));

    public void LeaseLost(string name) => _leaseLost.Add(1, new KeyValuePair<string, object?>(CoordinationDiagnostics.NameTag, name));
}
