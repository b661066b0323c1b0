using System.Diagnostics.Metrics;
using Coordination.AspNetCore;
using Coordination.Batching;
using Coordination.Diagnostics;
using Coordination.SingleFlight;
using Coordination.Tasks;
using Coordination.Tests.Batching;
using Coordination.Tests.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Time.Testing;

namespace Coordination.Tests.Diagnostics;

/// <summary>Instruments a dashboard relies on: they never lie when a listener comes and goes, and they use one vocabulary.</summary>
public sealed class InstrumentTests
{
    [Fact]
    public async Task ActiveFlights_ListenerStartedMidFlight_NeverGoesNegative()
    {
        await using var services = new ServiceCollection().AddKeyedCoordination(coord => coord.AddSingleFlightGroup<string, int>("prices")).BuildServiceProvider();
        var group = services.GetRequiredKeyedService<SingleFlightGroup<string, int>>("prices");
        var gate = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        var unheard = group.RunAsync("a", _ => gate.Task);

        // A listener (a dashboard's exporter) starts while the flight runs, then sees it end and another start.
        using var active = new MetricCollector<long>(services.GetRequiredService<IMeterFactory>(), CoordinationDiagnostics.MeterName, "coordination.single_flight.active");
        gate.SetResult(1);
        await unheard.DefaultTimeout();
        var heardGate = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        var heard = group.RunAsync("b", _ => heardGate.Task);

        Assert.Equal([1], active.GetMeasurementSnapshot().Select(m => m.Value));
        heardGate.SetResult(2);
        await heard.DefaultTimeout();
        Assert.Equal(0, active.GetMeasurementSnapshot().Sum(m => m.Value));
    }

    [Fact]
    public async Task Results_UseOneVocabularyAcrossPrimitives()
    {
        await using var services = CountersOn(new TestStore(), coord => coord.AddSingleFlightGroup<string, int>("prices"));
        var meters = services.GetRequiredService<IMeterFactory>();
        using var requests = new MetricCollector<long>(meters, CoordinationDiagnostics.MeterName, "coordination.single_flight.requests");
        using var operations = new MetricCollector<long>(meters, CoordinationDiagnostics.MeterName, "coordination.batch.operations");
        var group = services.GetRequiredKeyedService<SingleFlightGroup<string, int>>("prices");
        var processor = services.GetRequiredKeyedService<BatchProcessor<Counter>>("counters");

        await group.RunAsync("ok", _ => Task.FromResult(1)).DefaultTimeout();
        await Assert.ThrowsAsync<FormatException>(() => group.RunAsync("bad", _ => Task.FromException<int>(new FormatException()))).DefaultTimeout();
        await processor.RunAsync("a", c => c.Value++).DefaultTimeout();
        await Assert.ThrowsAsync<FormatException>(() => processor.RunAsync("a", new Action<Counter>(_ => throw new FormatException()))).DefaultTimeout();

        Assert.Equal(["failed", "succeeded"], requests.GetMeasurementSnapshot().Select(m => (string)m.Tags[SingleFlightMetrics.ResultTag]!).Order());
        Assert.Equal(["failed", "succeeded"], operations.GetMeasurementSnapshot().Select(m => (string)m.Tags[BatchMetrics.ResultTag]!).Order());
    }

    [Fact]
    public async Task BatchAborted_IsCountedOncePerBatch_WithTheErrorType()
    {
        var store = new TestStore { LoadFailure = new TimeoutException("database down") };
        await using var services = CountersOn(store);
        using var aborted = new MetricCollector<long>(services.GetRequiredService<IMeterFactory>(), CoordinationDiagnostics.MeterName, "coordination.batch.aborted");
        var processor = services.GetRequiredKeyedService<BatchProcessor<Counter>>("counters");
        store.HoldLoads();

        var calls = new[] { processor.RunAsync("a", c => c.Value++), processor.RunAsync("a", c => c.Value++) };
        store.ReleaseLoads();
        foreach (var call in calls)
        {
            await Assert.ThrowsAsync<BatchAbortedException>(() => call).DefaultTimeout();
        }

        // Callers are answered first; the batch records its metrics just after.
        Gate.WaitUntil(() => aborted.GetMeasurementSnapshot().Count == 1, "the batch counts its abort");
        var abort = Assert.Single(aborted.GetMeasurementSnapshot());
        Assert.Equal(1, abort.Value);
        Assert.Equal("counters", abort.Tags[CoordinationDiagnostics.NameTag]);
        Assert.Equal(typeof(TimeoutException).FullName, abort.Tags[CoordinationDiagnostics.ErrorTypeTag]);
    }

    [Fact]
    public async Task QueueDepth_ReportsEachState_OfTheQueueAndItsErrorGroup()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 12, 1, 0, 0, 0, TimeSpan.Zero));
        await using var services = new ServiceCollection()
            .AddSingleton<TimeProvider>(time)
            .AddKeyedCoordination(coord => coord.AddTaskQueue("emails"))
            .BuildServiceProvider();
        using var depth = new MetricCollector<int>(services.GetRequiredService<IMeterFactory>(), CoordinationDiagnostics.MeterName, "coordination.tasks.queue.depth");
        var emails = services.GetRequiredKeyedService<TaskQueue>("emails");

        await emails.EnqueueAsync(new byte[] { 1 });
        await emails.EnqueueAsync(new byte[] { 2 });
        await emails.EnqueueAsync(new byte[] { 3 }, notBefore: time.GetUtcNow().AddMinutes(5));
        await emails.Store.DoAsync(TaskOp.Create(new TaskItem { Group = emails.ErrorGroup, Payload = new byte[] { 4 } }));
        Assert.NotNull(await emails.Store.QueryAsync(emails.Group, TimeSpan.FromMinutes(1)));
        depth.RecordObservableInstruments();

        Assert.Equal(
            [("dead_lettered", 1), ("leased", 1), ("ready", 1), ("scheduled", 1)],
            depth.GetMeasurementSnapshot().Select(m => ((string)m.Tags[TaskMetrics.StateTag]!, m.Value)).Order());
        Assert.All(depth.GetMeasurementSnapshot(), m => Assert.Equal("emails", m.Tags[CoordinationDiagnostics.NameTag]));
    }

    [Fact]
    public async Task TaskCounters_StartAtZeroForEachQueue_SoADashboardShowsZeroNotNoData()
    {
        await using var services = new ServiceCollection().AddKeyedCoordination(coord => coord.AddTaskQueue("emails")).BuildServiceProvider();
        var meters = services.GetRequiredService<IMeterFactory>();
        string[] names = ["coordination.tasks.claimed", "coordination.tasks.completed", "coordination.tasks.dead_lettered", "coordination.tasks.lease.lost"];
        var collectors = names.Select(name => new MetricCollector<long>(meters, CoordinationDiagnostics.MeterName, name)).ToList();

        _ = services.GetRequiredKeyedService<TaskQueue>("emails");

        Assert.All(collectors, collector =>
        {
            var start = Assert.Single(collector.GetMeasurementSnapshot());
            Assert.Equal((0L, "emails"), (start.Value, start.Tags[CoordinationDiagnostics.NameTag]));
            collector.Dispose();
        });
    }

    [Fact]
    public async Task QueueDepth_FromAStoreThatCountsAsynchronously_ReportsThePreviousCount_WithoutBlocking()
    {
        var store = new SlowCountingStore(new InMemoryTaskStore(TimeProvider.System));
        await using var services = new ServiceCollection()
            .AddSingleton<ITaskStore>(store)
            .AddKeyedCoordination(coord => coord.AddTaskQueue("emails"))
            .BuildServiceProvider();
        using var depth = new MetricCollector<int>(services.GetRequiredService<IMeterFactory>(), CoordinationDiagnostics.MeterName, "coordination.tasks.queue.depth");
        var emails = services.GetRequiredKeyedService<TaskQueue>("emails");
        await emails.EnqueueAsync(new byte[] { 1 });

        depth.RecordObservableInstruments();
        Assert.Empty(depth.GetMeasurementSnapshot());
        depth.RecordObservableInstruments();
        Assert.Empty(depth.GetMeasurementSnapshot());
        Assert.Equal(1, store.CountsStarted);

        // Once the count completes, the next collection reports it.
        store.Release();
        Gate.WaitUntil(
            () =>
            {
                depth.RecordObservableInstruments();
                return depth.GetMeasurementSnapshot().Count > 0;
            },
            "a collection reports the completed count");
        Assert.Equal(1, Assert.Single(depth.GetMeasurementSnapshot(), m => Equals(m.Tags[TaskMetrics.StateTag], "ready")).Value);
    }

    /// <summary>Services with the batch processor <c>counters</c> loading from and saving to <paramref name="store"/>.</summary>
    internal static ServiceProvider CountersOn(TestStore store, Action<CoordinationBuilder>? more = null) =>
        new ServiceCollection()
            .AddKeyedCoordination(coord =>
            {
                coord.AddBatchProcessor<Counter>("counters", o =>
                {
                    o.LoadResource = store.LoadAsync;
                    o.SaveResource = store.SaveAsync;
                });
                more?.Invoke(coord);
            })
            .BuildServiceProvider();

    /// <summary>A store whose counts wait at a gate, as a database query would.</summary>
    private sealed class SlowCountingStore(InMemoryTaskStore inner) : ITaskStore
    {
        private readonly TaskCompletionSource _gate = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _started;

        public int CountsStarted => Volatile.Read(ref _started);

        public void Release() => _gate.TrySetResult();

        public async ValueTask<TaskGroupCounts> CountAsync(string group, CancellationToken cancellationToken = default)
        {
            Interlocked.Increment(ref _started);
            await _gate.Task.WaitAsync(cancellationToken);
            return await inner.CountAsync(group, cancellationToken);
        }

        public ValueTask<IReadOnlyList<TaskItem>> DoAsync(IReadOnlyList<TaskOp> operations, CancellationToken cancellationToken = default) => inner.DoAsync(operations, cancellationToken);

        public ValueTask<TaskItem?> QueryAsync(string group, TimeSpan ownFor, CancellationToken cancellationToken = default) => inner.QueryAsync(group, ownFor, cancellationToken);

        public ValueTask<IReadOnlyList<TaskItem>> ClaimBatchAsync(string group, TimeSpan ownFor, int max, CancellationToken cancellationToken = default) => inner.ClaimBatchAsync(group, ownFor, max, cancellationToken);

        public ValueTask<TaskClaim?> ClaimAsync(string group, long taskId, string workerId, TimeSpan ttl, CancellationToken cancellationToken = default) => inner.ClaimAsync(group, taskId, workerId, ttl, cancellationToken);

        public ValueTask ReleaseAsync(string group, long taskId, string workerId, CancellationToken cancellationToken = default) => inner.ReleaseAsync(group, taskId, workerId, cancellationToken);

        public ValueTask<TaskClaim> ExtendAsync(string group, long taskId, string workerId, TimeSpan ttl, CancellationToken cancellationToken = default) => inner.ExtendAsync(group, taskId, workerId, ttl, cancellationToken);

        public ValueTask<IReadOnlyList<TaskItem>> FindAvailableAsync(string workerId, int limit, IReadOnlyCollection<string>? groups = null, CancellationToken cancellationToken = default) =>
            inner.FindAvailableAsync(workerId, limit, groups, cancellationToken);
    }
}
