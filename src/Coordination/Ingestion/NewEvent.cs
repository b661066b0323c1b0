namespace Coordination.Ingestion;

/// <summary>An event to append to an <see cref="IEventLog"/>.</summary>
/// <param name="Key">The ordering key.</param>
/// <param name="Payload">The event as JSON.</param>
public sealed record NewEvent(string Key, string Payload)
{
    /// <summary>Gets the W3C trace context (<c>traceparent</c>) of the code that appended the event, if it was traced.</summary>
    /// <value>The default value is <see langword="null"/>; set from <see cref="System.Diagnostics.Activity.Current"/> by
    /// the ingestion.</value>
    /// <remarks>A log stores it with the event and returns it as <see cref="LoggedEvent.TraceParent"/>: the handling of
    /// the event continues the trace of the request that accepted it.</remarks>
    public string? TraceParent { get; init; }
}
