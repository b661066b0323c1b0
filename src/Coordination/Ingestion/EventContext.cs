namespace Coordination.Ingestion;

/// <summary>What a handler knows about the event it handles.</summary>
/// <param name="Id">The event id.</param>
/// <param name="Key">The ordering key.</param>
/// <param name="Attempt">The attempt, from 1.</param>
public readonly record struct EventContext(long Id, string Key, int Attempt);
