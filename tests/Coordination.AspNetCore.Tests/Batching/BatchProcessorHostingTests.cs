using System.Diagnostics.Metrics;
using Coordination.AspNetCore;
using Coordination.Batching;
using Coordination.Diagnostics;
using Coordination.Tests.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Coordination.Tests.Batching;

public sealed class BatchProcessorHostingTests
{
    [Fact]
    public async Task StoreIsResolvedFromANewScopePerBatch_AndTheProcessorIsAKeyedSingleton()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddSingleton<ScopeLog>();
        builder.Services.AddKeyedCoordination(coord => coord.AddBatchProcessor<Counter, ScopedCounterStore>("counters"));
        using var host = builder.Build();
        await host.StartAsync();
        var processor = host.Services.GetRequiredKeyedService<BatchProcessor<Counter>>("counters");
        var log = host.Services.GetRequiredService<ScopeLog>();

        await processor.RunAsync("a", c => c.Value++).DefaultTimeout();
        await processor.RunAsync("a", c => c.Value++).DefaultTimeout();

        Assert.Same(processor, host.Services.GetRequiredKeyedService<BatchProcessor<Counter>>("counters"));
        Assert.Equal(2, log.Loads.Count);
        Assert.Equal(log.Loads, log.Saves);
        Assert.NotEqual(log.Loads[0], log.Loads[1]);
        Assert.Equal(2, log.Disposed);
        await host.StopAsync();
    }

    [Fact]
    public async Task HostStop_StopsTheProcessor()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddKeyedCoordination(coord => coord.AddBatchProcessor<Counter>("counters"));
        using var host = builder.Build();
        await host.StartAsync();
        var processor = host.Services.GetRequiredKeyedService<BatchProcessor<Counter>>("counters");

        await host.StopAsync();

        await Assert.ThrowsAsync<BatchProcessorStoppedException>(() => processor.RunAsync("a", c => c.Value++));
    }

    [Fact]
    public async Task InvalidOptions_FailHostStartNamingProcessorAndOption()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddKeyedCoordination(coord => coord.AddBatchProcessor<Counter>("counters", o => o.MaxBatchSize = 0));
        using var host = builder.Build();

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());

        Assert.Contains("'counters'", error.Message);
        Assert.Contains("MaxBatchSize", error.Message);
    }

    [Fact]
    public async Task Metrics_CountOperationsAndRecordBatchSizeAndDuration()
    {
        var store = new TestStore();
        await using var services = new ServiceCollection()
            .AddKeyedCoordination(coord => coord.AddBatchProcessor<Counter>("counters", o =>
            {
                o.LoadResource = store.LoadAsync;
                o.SaveResource = store.SaveAsync;
            }))
            .BuildServiceProvider();
        var meters = services.GetRequiredService<IMeterFactory>();
        using var operations = new MetricCollector<long>(meters, CoordinationDiagnostics.MeterName, "coordination.batch.operations");
        using var sizes = new MetricCollector<int>(meters, CoordinationDiagnostics.MeterName, "coordination.batch.size");
        using var durations = new MetricCollector<double>(meters, CoordinationDiagnostics.MeterName, "coordination.batch.duration");
        var processor = services.GetRequiredKeyedService<BatchProcessor<Counter>>("counters");
        store.HoldLoads();

        var calls = new[]
        {
            processor.RunAsync("a", c => c.Value++),
            processor.RunAsync("a", new Action<Counter>(_ => throw new FormatException())),
            processor.RunAsync("a", c => c.Value++),
        };
        store.ReleaseLoads();
        await Task.WhenAll(calls).ContinueWith(_ => { }, TaskScheduler.Default).DefaultTimeout();
        // Callers are answered first; the batch records its size and duration just after.
        Gate.WaitUntil(() => durations.GetMeasurementSnapshot().Count == 1, "the batch records its metrics");

        var snapshot = operations.GetMeasurementSnapshot();
        Assert.All(snapshot, m => Assert.Equal("counters", m.Tags[CoordinationDiagnostics.NameTag]));
        Assert.Equal(2, snapshot.Where(m => Equals(m.Tags[BatchMetrics.ResultTag], "succeeded")).Sum(m => m.Value));
        var failed = Assert.Single(snapshot, m => Equals(m.Tags[BatchMetrics.ResultTag], "failed"));
        Assert.Equal(typeof(FormatException).FullName, failed.Tags[CoordinationDiagnostics.ErrorTypeTag]);
        Assert.Equal(3, Assert.Single(sizes.GetMeasurementSnapshot()).Value);
        Assert.Single(durations.GetMeasurementSnapshot());
    }

    public sealed class ScopeLog
    {
        public List<Guid> Loads { get; } = [];

        public List<Guid> Saves { get; } = [];

        public int Disposed { get; set; }
    }

    public sealed class ScopedCounterStore(ScopeLog log) : IBatchResourceStore<Counter>, IDisposable
    {
        private readonly Guid _id = Guid.NewGuid();

        public ValueTask<Counter> LoadAsync(string key, CancellationToken cancellationToken)
        {
            log.Loads.Add(_id);
            return new ValueTask<Counter>(new Counter());
        }

        public ValueTask SaveAsync(string key, Counter resource, CancellationToken cancellationToken)
        {
            log.Saves.Add(_id);
            return ValueTask.CompletedTask;
        }

        public void Dispose() => log.Disposed++;
    }
}
