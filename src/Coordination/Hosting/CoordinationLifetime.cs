using Microsoft.Extensions.Hosting;

namespace Coordination.AspNetCore;

/// <summary>
/// The one hosted service of every registered primitive: stops them in dependency order whatever the registration order —
/// first what produces work (ingestion dispatchers, task workers), then what serves it (batch processors) — so a handler
/// that is still running can use a batch processor until it ends.
/// </summary>
/// <remarks>The host stops hosted services in reverse registration order; left to it, a batch processor registered after
/// a task queue would stop first and fail the handlers the queue's workers still run. Within a role the primitives start
/// one after another in registration order and stop concurrently, all bounded by the host's shutdown token.</remarks>
internal sealed class CoordinationLifetime(IEnumerable<IHostedPrimitive> primitives) : IHostedService
{
    private readonly IHostedPrimitive[] _primitives = [.. primitives];

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        // What serves work is up before anything produces work for it.
        foreach (var primitive in _primitives.Where(p => p.Role == HostedPrimitiveRole.ServesWork).Concat(_primitives.Where(p => p.Role == HostedPrimitiveRole.ProducesWork)))
        {
            await primitive.StartAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        var producers = StopAllAsync(HostedPrimitiveRole.ProducesWork, cancellationToken);
        await producers.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);

        // Even if a producer failed to stop, what serves work still stops, so that nothing is left running.
        var servers = StopAllAsync(HostedPrimitiveRole.ServesWork, cancellationToken);
        await servers.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);

        var errors = new[] { producers, servers }.Where(t => t.IsFaulted).SelectMany(t => t.Exception!.InnerExceptions).ToList();
        if (errors.Count > 0)
        {
            throw errors.Count == 1 ? errors[0] : new AggregateException("Stopping the coordination primitives failed.", errors);
        }
    }

    private Task StopAllAsync(HostedPrimitiveRole role, CancellationToken cancellationToken) =>
        Task.WhenAll(_primitives.Where(p => p.Role == role).Select(async p => await p.StopAsync(cancellationToken).ConfigureAwait(false)));
}
