using Coordination.AspNetCore;
using Coordination.Batching;
using Coordination.Tasks;
using Coordination.Tests.Batching;
using Coordination.Tests.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Coordination.Tests.Hosting;

public sealed class CoordinationLifetimeTests
{
    [Fact]
    public async Task TaskWorkerRegisteredBeforeTheBatchProcessor_StopsFirst_SoARunningHandlerStillUsesTheProcessor()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton<HandlerScript>();
        builder.Services.AddKeyedCoordination(coord =>
        {
            // The registration order that used to stop the processor first.
            coord.AddTaskQueue("jobs").AddWorker<CountingHandler>();
            coord.AddBatchProcessor<Counter>("counters");
        });
        using var host = builder.Build();
        await host.StartAsync();
        var script = host.Services.GetRequiredService<HandlerScript>();
        var jobs = host.Services.GetRequiredKeyedService<TaskQueue>("jobs");
        await jobs.EnqueueAsync(new byte[] { 1 });
        await script.Entered.Task.DefaultTimeout();

        var stop = host.StopAsync();
        script.Gate.SetResult();
        await stop.DefaultTimeout();

        Assert.Equal(1, await script.Outcome.Task.DefaultTimeout());
        Assert.Equal(default, await jobs.Store.CountAsync(jobs.Group));
        await Assert.ThrowsAsync<BatchProcessorStoppedException>(() => host.Services.GetRequiredKeyedService<BatchProcessor<Counter>>("counters").RunAsync("k", c => c.Value++));
    }

    [Fact]
    public void EveryHostedPrimitive_IsStartedAndStoppedByOneHostedService()
    {
        var services = new ServiceCollection();
        services.AddKeyedCoordination(coord => coord.AddBatchProcessor<Counter>("a"));
        services.AddKeyedCoordination(coord =>
        {
            coord.AddTaskQueue("jobs").AddWorker<CountingHandler>().AddWorker<CountingHandler>();
            coord.AddBatchProcessor<Counter>("b");
        });

        Assert.Equal(typeof(CoordinationLifetime), Assert.Single(services, d => d.ServiceType == typeof(IHostedService)).ImplementationType);
        Assert.Equal(4, services.Count(d => d.ServiceType == typeof(IHostedPrimitive)));
    }

    public sealed class HandlerScript
    {
        public TaskCompletionSource Entered { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource Gate { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource<int> Outcome { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    /// <summary>Waits until the test lets it go (the host is stopping by then), then uses the batch processor.</summary>
    public sealed class CountingHandler(HandlerScript script, [FromKeyedServices("counters")] BatchProcessor<Counter> counters) : ITaskHandler
    {
        public async Task HandleAsync(TaskItem task, CancellationToken cancellationToken)
        {
            script.Entered.TrySetResult();
            await script.Gate.Task;
            try
            {
                script.Outcome.TrySetResult(await counters.RunAsync("k", c => ++c.Value, cancellationToken));
            }
            catch (Exception exception)
            {
                script.Outcome.TrySetException(exception);
                throw;
            }
        }
    }
}
