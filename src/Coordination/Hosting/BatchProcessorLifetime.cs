using Coordination.Batching;
using Microsoft.Extensions.Hosting;

namespace Coordination.AspNetCore;

/// <summary>Stops a batch processor with the host: intake closes, queued and running batches save, within the shutdown timeout.</summary>
internal sealed class BatchProcessorLifetime<TResource>(BatchProcessor<TResource> processor) : IHostedService
    where TResource : class
{
    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => processor.StopAsync(cancellationToken);
}
