namespace Coordination.Ingestion;

/// <summary>What the dispatcher asks an <see cref="IEventLog"/> for in one pass: the events it may hand to workers now.</summary>
/// <param name="MaxKeys">The most keys to return events of.</param>
/// <param name="MaxEvents">The most events to return in all.</param>
/// <param name="Now">The dispatcher's clock: a key whose oldest pending event is <see cref="EventState.Failed"/> with
/// <see cref="LoggedEvent.RetryAt"/> after it is backing off and skipped.</param>
/// <param name="HeldKeys">Keys the dispatcher holds (already in its workers); skipped.</param>
/// <remarks>A key's <b>head</b> is its oldest event that is not terminal. A log returns, in the order of their heads,
/// the keys that are not in <paramref name="HeldKeys"/>, not parked and not backing off, and for each such key a
/// consecutive run of its events from the head, in id order. Held keys cost nothing however long their backlog: a
/// relational log does this with a partial index on (key, id) over the events that are not terminal (one index probe
/// per key for the head, then a range read per returned key).</remarks>
public sealed record DispatchQuery(int MaxKeys, int MaxEvents, DateTimeOffset Now, IReadOnlySet<string> HeldKeys);
