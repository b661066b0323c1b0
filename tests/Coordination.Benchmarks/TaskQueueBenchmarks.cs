using BenchmarkDotNet.Attributes;
using Coordination.AspNetCore;
using Coordination.Tasks;
using Hangfire;
using Hangfire.InMemory;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Coordination.Benchmarks;

/// <summary>
/// End to end through an in-memory queue: enqueue a burst of no-op jobs and wait until workers have run and completed
/// every one. Both sides run 4 workers that are already started and idle; Hangfire uses its in-memory storage.
/// </summary>
[MemoryDiagnoser]
public class TaskQueueBenchmarks
{
    private IHost _host = null!;
    private TaskQueue _queue = null!;
    private BackgroundJobServer _hangfire = null!;

    [Params(1_000)]
    public int Jobs { get; set; }

    [GlobalSetup]
    public async Task StartWorkers()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddKeyedCoordination(coord => coord.AddTaskQueue("bench").AddWorker<CountingHandler>(o => o.Concurrency = 4));
        _host = builder.Build();
        await _host.StartAsync();
        _queue = _host.Services.GetRequiredKeyedService<TaskQueue>("bench");

        GlobalConfiguration.Configuration
            .UseSimpleAssemblyNameTypeSerializer()
            .UseIgnoredAssemblyVersionTypeResolver()
            .UseInMemoryStorage(new InMemoryStorageOptions { MaxExpirationTime = TimeSpan.FromMinutes(1) });
        _hangfire = new BackgroundJobServer(new BackgroundJobServerOptions { WorkerCount = 4 });
    }

    [GlobalCleanup]
    public async Task StopWorkers()
    {
        _hangfire.Dispose();
        await _host.StopAsync();
        _host.Dispose();
    }

    [Benchmark(Baseline = true)]
    public async Task TaskQueue()
    {
        var done = Completion.Expect(Jobs);
        for (var i = 0; i < Jobs; i++)
        {
            await _queue.EnqueueAsync(ReadOnlyMemory<byte>.Empty);
        }

        await done;
    }

    [Benchmark]
    public async Task Hangfire()
    {
        var done = Completion.Expect(Jobs);
        for (var i = 0; i < Jobs; i++)
        {
            BackgroundJob.Enqueue(() => Completion.Count());
        }

        await done;
    }

    /// <summary>Counts finished jobs of the current burst.</summary>
    public static class Completion
    {
        private static int _remaining;
        private static TaskCompletionSource _done = new();

        public static Task Expect(int jobs)
        {
            _done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            Volatile.Write(ref _remaining, jobs);
            return _done.Task;
        }

        public static void Count()
        {
            if (Interlocked.Decrement(ref _remaining) == 0)
            {
                _done.TrySetResult();
            }
        }
    }

    private sealed class CountingHandler : ITaskHandler
    {
        public Task HandleAsync(TaskItem task, CancellationToken cancellationToken)
        {
            Completion.Count();
            return Task.CompletedTask;
        }
    }
}
