namespace Coordination.Ingestion;

/// <summary>An <see cref="IEventLog"/> in process memory: ids are assigned under one lock, so they are visible in order by construction.</summary>
/// <remarks>Durable only for the life of the process: on shutdown the ingestion finishes what it accepted, or logs what it could not.</remarks>
public sealed class InMemoryEventLog : IEventLog
{
    private readonly Lock _sync = new();
    private readonly SortedDictionary<long, LoggedEvent> _pending = [];
    private readonly Dictionary<long, LoggedEvent> _all = [];
    private readonly HashSet<string> _parked = new(StringComparer.Ordinal);
    private long _nextId;

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<long>> AppendAsync(IReadOnlyList<(string Key, string Payload)> events, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(events);
        cancellationToken.ThrowIfCancellationRequested();
        var ids = new long[events.Count];
        lock (_sync)
        {
            for (var i = 0; i < events.Count; i++)
            {
                var logged = new LoggedEvent(++_nextId, events[i].Key, events[i].Payload);
                _pending[logged.Id] = logged;
                _all[logged.Id] = logged;
                ids[i] = logged.Id;
            }
        }

        return new ValueTask<IReadOnlyList<long>>(ids);
    }

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<LoggedEvent>> ReadPendingAsync(int max, CancellationToken cancellationToken)
    {
        lock (_sync)
        {
            return new ValueTask<IReadOnlyList<LoggedEvent>>([.. _pending.Values.Take(max)]);
        }
    }

    /// <inheritdoc />
    public ValueTask<LoggedEvent?> GetAsync(long id, CancellationToken cancellationToken)
    {
        lock (_sync)
        {
            return new ValueTask<LoggedEvent?>(_all.GetValueOrDefault(id));
        }
    }

    /// <inheritdoc />
    public ValueTask SaveStateAsync(LoggedEvent logged, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(logged);
        lock (_sync)
        {
            if (!_all.ContainsKey(logged.Id))
            {
                throw new InvalidOperationException($"Event {logged.Id} is not in the log.");
            }

            _all[logged.Id] = logged;
            if (logged.IsTerminal)
            {
                _pending.Remove(logged.Id);
            }
            else
            {
                _pending[logged.Id] = logged;
            }
        }

        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    public ValueTask<bool> SetParkedAsync(string key, bool parked, CancellationToken cancellationToken)
    {
        lock (_sync)
        {
            return new ValueTask<bool>(parked ? _parked.Add(key) : _parked.Remove(key));
        }
    }

    /// <inheritdoc />
    public ValueTask<IReadOnlySet<string>> ParkedKeysAsync(CancellationToken cancellationToken)
    {
        lock (_sync)
        {
            return new ValueTask<IReadOnlySet<string>>(new HashSet<string>(_parked, StringComparer.Ordinal));
        }
    }
}
