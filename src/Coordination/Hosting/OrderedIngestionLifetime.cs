using Coordination.Ingestion;
using Microsoft.Extensions.Hosting;

namespace Coordination.AspNetCore;

/// <summary>Starts an ordered ingestion with the host; on stop, finishes what was accepted within the shutdown timeout.</summary>
internal sealed class OrderedIngestionLifetime<TEvent>(OrderedIngestion<TEvent> ingestion) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        ingestion.Start();
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => ingestion.StopAsync(cancellationToken);
}
