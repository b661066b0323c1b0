using Coordination.Tasks;

namespace Coordination.AspNetCore;

/// <summary>Starts a queue's workers with the host (after options were validated) and stops them gracefully.</summary>
internal sealed class TaskWorkerLifetime(Func<TaskWorker> create) : IHostedPrimitive, IAsyncDisposable
{
    private TaskWorker? _worker;

    public HostedPrimitiveRole Role => HostedPrimitiveRole.ProducesWork;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _worker = create();
        _worker.Start();
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => _worker?.StopAsync(cancellationToken) ?? Task.CompletedTask;

    public ValueTask DisposeAsync() => _worker?.DisposeAsync() ?? ValueTask.CompletedTask;
}
