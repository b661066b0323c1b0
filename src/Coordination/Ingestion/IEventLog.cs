namespace Coordination.Ingestion;

/// <summary>The durable log of an ordered ingestion: events are appended once, read in id order, and their state is kept.</summary>
/// <remarks>Ids must become visible to <see cref="ReadPendingAsync"/> in id order within a key: a reader that saw id 11
/// must already see id 10. Implementations: in memory (the default) and PostgreSQL.</remarks>
public interface IEventLog
{
    /// <summary>Appends events atomically (all or none) and returns their ids, in order.</summary>
    /// <param name="events">The key and JSON payload of each event.</param>
    /// <param name="cancellationToken">Cancels the append; nothing is appended then.</param>
    /// <returns>The ids of the appended events.</returns>
    ValueTask<IReadOnlyList<long>> AppendAsync(IReadOnlyList<(string Key, string Payload)> events, CancellationToken cancellationToken);

    /// <summary>Reads the events that are not terminal, in id order.</summary>
    /// <param name="max">The most events to return.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>Up to <paramref name="max"/> events.</returns>
    ValueTask<IReadOnlyList<LoggedEvent>> ReadPendingAsync(int max, CancellationToken cancellationToken);

    /// <summary>Returns one event, or <see langword="null"/> if there is none with that id.</summary>
    /// <param name="id">The event id.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The event.</returns>
    ValueTask<LoggedEvent?> GetAsync(long id, CancellationToken cancellationToken);

    /// <summary>Saves an event's new state (state, attempts, error, blocking id, retry time).</summary>
    /// <param name="logged">The event with its new state.</param>
    /// <param name="cancellationToken">Cancels the write.</param>
    /// <returns>A task that completes when the state is durable.</returns>
    ValueTask SaveStateAsync(LoggedEvent logged, CancellationToken cancellationToken);

    /// <summary>Marks a key as parked (true) or released (false); a parked key is not dispatched.</summary>
    /// <param name="key">The key.</param>
    /// <param name="parked">Whether the key is parked.</param>
    /// <param name="cancellationToken">Cancels the write.</param>
    /// <returns><see langword="true"/> if the key's parked state changed.</returns>
    ValueTask<bool> SetParkedAsync(string key, bool parked, CancellationToken cancellationToken);

    /// <summary>Returns the parked keys.</summary>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The parked keys.</returns>
    ValueTask<IReadOnlySet<string>> ParkedKeysAsync(CancellationToken cancellationToken);
}
