using Coordination.Ingestion;

namespace Coordination.AspNetCore;

/// <summary>Starts an ordered ingestion with the host; on stop, finishes what was accepted within the shutdown timeout.</summary>
internal sealed class OrderedIngestionLifetime<TEvent>(OrderedIngestion<TEvent> ingestion) : IHostedPrimitive
{
    public HostedPrimitiveRole Role => HostedPrimitiveRole.ProducesWork;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        ingestion.Start();
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => ingestion.StopAsync(cancellationToken);
}
