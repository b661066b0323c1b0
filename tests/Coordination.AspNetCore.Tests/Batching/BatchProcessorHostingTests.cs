using System.Diagnostics.Metrics;
using Coordination.AspNetCore;
using Coordination.Batching;
using Coordination.Diagnostics;
using Coordination.Tests.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

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

    [Fact]
    public async Task StoreWhoseConstructorThrows_AbortsTheBatch_AndItsScopeIsDisposed()
    {
        await using var app = await StartAsync<ThrowingStore>();

        var error = await Assert.ThrowsAsync<BatchAbortedException>(() => app.Processor.RunAsync("a", c => c.Value++)).DefaultTimeout();

        Assert.Equal("misconfigured", error.InnerException!.Message);
        Assert.Equal(1, app.Log.Disposed);
    }

    [Fact]
    public async Task ScopeDisposalThrowsAfterASuccessfulSave_TheCallersSucceed_AndTheFailureIsLogged()
    {
        await using var app = await StartAsync<StoreWithFailingDisposal>();

        Assert.Equal(1, await app.Processor.RunAsync("a", c => ++c.Value).DefaultTimeout());

        Assert.Single(app.Log.Saves);
        var failed = Assert.Single(app.Logs.GetSnapshot(), r => r.Id.Name == "ScopeDisposalFailed");
        Assert.Contains("'counters'", failed.Message);
    }

    [Fact]
    public async Task ScopeDisposalHangsAfterASuccessfulSave_TheCallersSucceedAtMaxDuration_AndItIsLogged()
    {
        await using var app = await StartAsync<StoreWithHangingDisposal>();

        var call = app.Processor.RunAsync("a", c => ++c.Value);
        await app.Log.DisposalStarted.Task.DefaultTimeout();
        app.Time.Advance(TimeSpan.FromSeconds(1));

        Assert.Equal(1, await call.DefaultTimeout());
        var abandoned = Assert.Single(app.Logs.GetSnapshot(), r => r.Id.Name == "ScopeDisposalAbandoned");
        Assert.Contains("'counters'", abandoned.Message);
        app.Log.FinishDisposal.SetResult();
    }

    [Fact]
    public async Task LoadIgnoringItsToken_IsAbandonedAtMaxDuration_AndItsScopeIsDisposedWhenItEnds()
    {
        await using var app = await StartAsync<StoreWithHangingLoad>();

        var call = app.Processor.RunAsync("a", c => ++c.Value);
        await app.Log.LoadStarted.Task.DefaultTimeout();
        app.Time.Advance(TimeSpan.FromSeconds(1));

        var error = await Assert.ThrowsAsync<BatchAbortedException>(() => call).DefaultTimeout();
        Assert.IsType<TimeoutException>(error.InnerException);
        var abandoned = Assert.Single(app.Logs.GetSnapshot(), r => r.Id.Name == "StoreCallAbandoned");
        Assert.Contains("'counters'", abandoned.Message);

        // The scope outlives the abandoned load, which may still use it, and goes with it.
        Assert.Equal(0, app.Log.Disposed);
        app.Log.FinishLoad.SetResult();
        Gate.WaitUntil(() => app.Log.Disposed == 1, "the abandoned load's scope is disposed");
    }

    private static async Task<BatchApp> StartAsync<TStore>()
        where TStore : class, IBatchResourceStore<Counter>
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders().AddFakeLogging();
        var time = new FakeTimeProvider();
        builder.Services.AddSingleton<TimeProvider>(time);
        builder.Services.AddSingleton<ScopeLog>();
        builder.Services.AddScoped<ScopedDependency>();
        builder.Services.AddKeyedCoordination(coord => coord.AddBatchProcessor<Counter, TStore>("counters"));
        var host = builder.Build();
        await host.StartAsync();
        return new BatchApp(host, time);
    }

    private sealed class BatchApp(IHost host, FakeTimeProvider time) : IAsyncDisposable
    {
        public BatchProcessor<Counter> Processor => host.Services.GetRequiredKeyedService<BatchProcessor<Counter>>("counters");

        public ScopeLog Log => host.Services.GetRequiredService<ScopeLog>();

        public FakeLogCollector Logs => host.Services.GetFakeLogCollector();

        public FakeTimeProvider Time => time;

        public async ValueTask DisposeAsync()
        {
            using var stop = new CancellationTokenSource();
            await stop.CancelAsync();
            await host.StopAsync(stop.Token).DefaultTimeout();
            host.Dispose();
        }
    }

    /// <summary>A scoped service that records its disposal, so a test sees whether a batch's scope was disposed.</summary>
    public sealed class ScopedDependency(ScopeLog log) : IDisposable
    {
        public void Dispose() => log.Disposed++;
    }

    public sealed class ThrowingStore : IBatchResourceStore<Counter>
    {
        public ThrowingStore(ScopedDependency dependency)
        {
            ArgumentNullException.ThrowIfNull(dependency);
            throw new InvalidOperationException("misconfigured");
        }

        public ValueTask<Counter> LoadAsync(string key, CancellationToken cancellationToken) => throw new NotSupportedException();

        public ValueTask SaveAsync(string key, Counter resource, CancellationToken cancellationToken) => throw new NotSupportedException();
    }

    public sealed class StoreWithFailingDisposal(ScopeLog log) : IBatchResourceStore<Counter>, IDisposable
    {
        public ValueTask<Counter> LoadAsync(string key, CancellationToken cancellationToken) => new(new Counter());

        public ValueTask SaveAsync(string key, Counter resource, CancellationToken cancellationToken)
        {
            log.Saves.Add(Guid.NewGuid());
            return ValueTask.CompletedTask;
        }

        public void Dispose() => throw new InvalidOperationException("the connection was already closed");
    }

    public sealed class StoreWithHangingDisposal(ScopeLog log) : IBatchResourceStore<Counter>, IAsyncDisposable
    {
        public ValueTask<Counter> LoadAsync(string key, CancellationToken cancellationToken) => new(new Counter());

        public ValueTask SaveAsync(string key, Counter resource, CancellationToken cancellationToken) => ValueTask.CompletedTask;

        public async ValueTask DisposeAsync()
        {
            log.DisposalStarted.TrySetResult();
            await log.FinishDisposal.Task;
        }
    }

    public sealed class StoreWithHangingLoad(ScopeLog log, ScopedDependency dependency) : IBatchResourceStore<Counter>
    {
        public async ValueTask<Counter> LoadAsync(string key, CancellationToken cancellationToken)
        {
            ArgumentNullException.ThrowIfNull(dependency);
            log.LoadStarted.TrySetResult();
            await log.FinishLoad.Task;
            return new Counter();
        }

        public ValueTask SaveAsync(string key, Counter resource, CancellationToken cancellationToken) => ValueTask.CompletedTask;
    }

    public sealed class ScopeLog
    {
        public List<Guid> Loads { get; } = [];

        public List<Guid> Saves { get; } = [];

        public int Disposed { get; set; }

        public TaskCompletionSource LoadStarted { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource FinishLoad { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource DisposalStarted { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource FinishDisposal { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
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
