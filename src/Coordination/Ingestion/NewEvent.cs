namespace Coordination.Ingestion;

/// <summary>An event to append to an <see cref="IEventLog"/>.</summary>
/// <param name="Key">The ordering key.</param>
/// <param name="Payload">The event as JSON.</param>
public sealed record NewEvent(string Key, string Payload);
