namespace Coordination.Ingestion;

/// <summary>The durable log of an ordered ingestion: events are appended once, read in id order, and their state is kept.</summary>
/// <remarks>Ids must become visible to the reads in id order within a key: a reader that saw id 11 must already see
/// id 10. One log belongs to one ingestion. Implementations: in memory (the default) and PostgreSQL. A log keeps each
/// event's <see cref="NewEvent.TraceParent"/> and stamps <see cref="LoggedEvent.AcceptedAt"/> when it appends, and
/// returns both with the event on every read: the handling continues the appender's trace, and the ingestion lag
/// (accepted to handled) is measured from them.
/// <para>A log shared by several processes lets one dispatcher at a time handle its events
/// (<see cref="AcquireDispatchLeaseAsync"/>) and rejects the state writes of a dispatcher that lost the lease.</para></remarks>
public interface IEventLog
{
    /// <summary>Appends events atomically (all or none) and returns their ids, in order; with
    /// <paramref name="idempotency"/>, checks and records its key in the same atomic step.</summary>
    /// <param name="events">The key and JSON payload of each event.</param>
    /// <param name="idempotency">The idempotency key of the request, or <see langword="null"/>. Within its window, a
    /// second append with the same scope and key appends nothing: <see cref="AppendOutcome.Replayed"/> with the first
    /// ids when the fingerprint matches, <see cref="AppendOutcome.FingerprintMismatch"/> when it does not.</param>
    /// <param name="cancellationToken">Cancels the append; nothing is appended then.</param>
    /// <returns>What was done, and the ids.</returns>
    ValueTask<AppendResult> AppendAsync(IReadOnlyList<NewEvent> events, IdempotentAppend? idempotency, CancellationToken cancellationToken);

    /// <summary>Claims or renews this process's right to dispatch the log's events; the dispatcher calls it before each
    /// pass and dispatches nothing while another process holds the right.</summary>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The lease token, or <see langword="null"/> when another process holds the lease. The token changes
    /// whenever another process held the lease in between: the dispatcher then rebuilds its state from the log. A log
    /// used by one process only (the default) always returns 0.</returns>
    /// <remarks>The events <see cref="ReadDispatchableAsync"/> returns carry the token (<see cref="LoggedEvent.LeaseToken"/>);
    /// <see cref="SaveStateAsync"/> of such an event throws <see cref="DispatchLeaseLostException"/>, and changes
    /// nothing, once the lease has passed to another token.</remarks>
    ValueTask<long?> AcquireDispatchLeaseAsync(CancellationToken cancellationToken) => new(0L);

    /// <summary>Reads the events the dispatcher may hand to workers now, key by key (see <see cref="DispatchQuery"/>).</summary>
    /// <param name="query">The limits, the clock and the keys to skip.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>For each returned key, a consecutive run of its events from its oldest one that is not terminal.</returns>
    ValueTask<IReadOnlyList<LoggedEvent>> ReadDispatchableAsync(DispatchQuery query, CancellationToken cancellationToken);

    /// <summary>Reads the events that are not terminal, of every key (parked and backing-off ones too), in id order.</summary>
    /// <param name="afterId">Only events with a greater id are returned: 0 for the first page, then the last id read.</param>
    /// <param name="max">The most events to return.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>Up to <paramref name="max"/> events.</returns>
    ValueTask<IReadOnlyList<LoggedEvent>> ReadPendingAsync(long afterId, int max, CancellationToken cancellationToken);

    /// <summary>Returns one event, or <see langword="null"/> if there is none with that id.</summary>
    /// <param name="id">The event id.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The event.</returns>
    ValueTask<LoggedEvent?> GetAsync(long id, CancellationToken cancellationToken);

    /// <summary>Saves an event's new state (state, attempts, error, blocking id, retry time).</summary>
    /// <param name="logged">The event with its new state.</param>
    /// <param name="cancellationToken">Cancels the write.</param>
    /// <returns>A task that completes when the state is durable.</returns>
    /// <exception cref="DispatchLeaseLostException">The event was read under a lease that has since passed to another
    /// dispatcher; nothing was written.</exception>
    ValueTask SaveStateAsync(LoggedEvent logged, CancellationToken cancellationToken);

    /// <summary>Marks a key as parked (true) or released (false); a parked key is not returned by
    /// <see cref="ReadDispatchableAsync"/>. A log shared by several processes parks a key only while this process
    /// holds the dispatch lease (the dispatcher parks; an operator releases).</summary>
    /// <param name="key">The key.</param>
    /// <param name="parked">Whether the key is parked.</param>
    /// <param name="cancellationToken">Cancels the write.</param>
    /// <returns><see langword="true"/> if the key's parked state changed.</returns>
    ValueTask<bool> SetParkedAsync(string key, bool parked, CancellationToken cancellationToken);

    /// <summary>Returns the parked keys.</summary>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The parked keys.</returns>
    ValueTask<IReadOnlySet<string>> ParkedKeysAsync(CancellationToken cancellationToken);

    /// <summary>Replays a dead-lettered event: in one atomic step, appends a copy of it (same key and payload, a new id,
    /// so it is handled after the key's pending events, in order) and removes the dead letter.</summary>
    /// <param name="id">The id of the dead-lettered event.</param>
    /// <param name="cancellationToken">Cancels the call; nothing is changed then.</param>
    /// <returns>The id of the copy, or <see langword="null"/> when there is no dead-lettered event with that id (nothing
    /// is changed then).</returns>
    ValueTask<long?> ReplayAsync(long id, CancellationToken cancellationToken);

    /// <summary>Removes succeeded events that finished before <paramref name="finishedBefore"/> (by the log's clock), and
    /// expired idempotency keys; dead letters and events that are not terminal stay.</summary>
    /// <param name="finishedBefore">The cutoff.</param>
    /// <param name="max">The most events to remove in this call.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>How many events were removed; the caller calls again while it is <paramref name="max"/>.</returns>
    ValueTask<int> DeleteSucceededAsync(DateTimeOffset finishedBefore, int max, CancellationToken cancellationToken);
}
