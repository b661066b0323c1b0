using System.Diagnostics.CodeAnalysis;

namespace Coordination.Ingestion;

/// <summary>Handles the events of an ordered ingestion; resolved from a new DI scope per event.</summary>
/// <typeparam name="TEvent">The event type.</typeparam>
/// <remarks>Events of one key reach the handler one at a time, in id order. Throw <see cref="PermanentEventException"/>
/// for an event that can never succeed; any other exception is retried with backoff.</remarks>
[SuppressMessage("Naming", "CA1711", Justification = "The name is the design's: a handler of ingested events, not a .NET event delegate.")]
public interface IEventHandler<in TEvent>
{
    /// <summary>Handles one event.</summary>
    /// <param name="ingested">The event.</param>
    /// <param name="context">The event's id, key and attempt.</param>
    /// <param name="cancellationToken">Cancelled when the host stops.</param>
    /// <returns>A task that completes when the event is handled.</returns>
    Task HandleAsync(TEvent ingested, EventContext context, CancellationToken cancellationToken);
}
