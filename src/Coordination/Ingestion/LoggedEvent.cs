namespace Coordination.Ingestion;

/// <summary>An event as its <see cref="IEventLog"/> holds it.</summary>
/// <param name="Id">The id; increasing in the order events were appended.</param>
/// <param name="Key">The ordering key: events of one key are handled one at a time, in id order.</param>
/// <param name="Payload">The event as JSON.</param>
public sealed record LoggedEvent(long Id, string Key, string Payload)
{
    /// <summary>Gets the event's state.</summary>
    public EventState State { get; init; }

    /// <summary>Gets how many times its handler ran.</summary>
    public int Attempts { get; init; }

    /// <summary>Gets the last handler error, if any.</summary>
    public string? LastError { get; init; }

    /// <summary>Gets, while <see cref="EventState.Waiting"/>, the failed event of the same key that holds this one.</summary>
    public long? BlockingId { get; init; }

    /// <summary>Gets, while <see cref="EventState.Failed"/>, when the event runs again.</summary>
    public DateTimeOffset? RetryAt { get; init; }

    /// <summary>Gets when the log accepted the event, by the log's clock.</summary>
    /// <value><see langword="default"/> from a log that does not record it; the ingestion lag is then not measured.</value>
    public DateTimeOffset AcceptedAt { get; init; }

    /// <summary>Gets the W3C trace context the event was appended under (<see cref="NewEvent.TraceParent"/>).</summary>
    /// <value><see langword="null"/> when the append was not traced.</value>
    public string? TraceParent { get; init; }

    /// <summary>Gets the dispatch lease the event was read under (<see cref="IEventLog.AcquireDispatchLeaseAsync"/>), which
    /// fences the saves of its new states; <see langword="null"/> when it was not read for dispatch.</summary>
    public long? LeaseToken { get; init; }

    /// <summary>Gets whether the event reached a terminal state.</summary>
    public bool IsTerminal => State is EventState.Succeeded or EventState.DeadLettered;
}
