using Coordination.Batching;

namespace Coordination.AspNetCore;

/// <summary>Stops a batch processor with the host, once nothing produces work for it any more: intake closes, queued and
/// running batches save, within the shutdown timeout.</summary>
internal sealed class BatchProcessorLifetime<TResource>(BatchProcessor<TResource> processor) : IHostedPrimitive
    where TResource : class
{
    public HostedPrimitiveRole Role => HostedPrimitiveRole.ServesWork;

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => processor.StopAsync(cancellationToken);
}
