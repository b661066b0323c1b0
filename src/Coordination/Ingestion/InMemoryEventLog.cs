namespace Coordination.Ingestion;

/// <summary>An <see cref="IEventLog"/> in process memory: ids are assigned under one lock, so they are visible in order by construction.</summary>
/// <remarks>Durable only for the life of the process: on shutdown the ingestion finishes what it accepted, or logs
/// what it could not. Pending events are indexed per key, so a key's backlog costs a read nothing while the key is
/// held. Idempotency keys are kept in memory for their window and purged on later appends and by the retention sweep,
/// which also removes succeeded events (<see cref="DeleteSucceededAsync"/>).</remarks>
public sealed class InMemoryEventLog : IEventLog
{
    private readonly Lock _sync = new();
    private readonly TimeProvider _timeProvider;
    private readonly Dictionary<long, LoggedEvent> _all = [];
    private readonly SortedSet<long> _pending = [];
    private readonly Dictionary<string, SortedSet<long>> _pendingByKey = new(StringComparer.Ordinal);

    // The oldest pending id of every key with pending events ("heads"), in id order.
    private readonly SortedDictionary<long, string> _heads = [];
    private readonly HashSet<string> _parked = new(StringComparer.Ordinal);
    private readonly Dictionary<(string? Scope, string Key), IdempotencyRecord> _idempotency = [];
    private readonly Queue<((string? Scope, string Key) Key, DateTimeOffset ExpiresAt)> _idempotencyExpiry = new();

    // Succeeded events in the order they finished (the clock only moves forward), for the retention sweep.
    private readonly Queue<(long Id, DateTimeOffset FinishedAt)> _succeeded = new();
    private long _nextId;

    /// <summary>Initializes an empty log.</summary>
    /// <param name="timeProvider">The clock idempotency windows are measured with; <see cref="TimeProvider.System"/> when <see langword="null"/>.</param>
    public InMemoryEventLog(TimeProvider? timeProvider = null) => _timeProvider = timeProvider ?? TimeProvider.System;

    /// <inheritdoc />
    public ValueTask<AppendResult> AppendAsync(IReadOnlyList<NewEvent> events, IdempotentAppend? idempotency, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(events);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_sync)
        {
            var now = _timeProvider.GetUtcNow();
            if (idempotency is not null)
            {
                PurgeExpiredIdempotencyKeys(now);
                if (_idempotency.TryGetValue((idempotency.Scope, idempotency.Key), out var first) && first.ExpiresAt > now)
                {
                    return new ValueTask<AppendResult>(first.Fingerprint == idempotency.Fingerprint
                        ? new AppendResult(AppendOutcome.Replayed, first.Ids)
                        : new AppendResult(AppendOutcome.FingerprintMismatch, []));
                }
            }

            var ids = new long[events.Count];
            for (var i = 0; i < events.Count; i++)
            {
                ids[i] = Add(events[i].Key, events[i].Payload, events[i].TraceParent, now);
            }

            if (idempotency is not null)
            {
                var expiresAt = now + idempotency.Window;
                _idempotency[(idempotency.Scope, idempotency.Key)] = new IdempotencyRecord(idempotency.Fingerprint, ids, expiresAt);
                _idempotencyExpiry.Enqueue(((idempotency.Scope, idempotency.Key), expiresAt));
            }

            return new ValueTask<AppendResult>(new AppendResult(AppendOutcome.Appended, ids));
        }
    }

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<LoggedEvent>> ReadDispatchableAsync(DispatchQuery query, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(query);
        var result = new List<LoggedEvent>();
        lock (_sync)
        {
            var keys = 0;
            foreach (var (headId, key) in _heads)
            {
                if (keys >= query.MaxKeys || result.Count >= query.MaxEvents)
                {
                    break;
                }

                var head = _all[headId];
                if (query.HeldKeys.Contains(key) || _parked.Contains(key) || (head.State == EventState.Failed && head.RetryAt > query.Now))
                {
                    continue;
                }

                keys++;
                foreach (var id in _pendingByKey[key])
                {
                    if (result.Count >= query.MaxEvents)
                    {
                        break;
                    }

                    result.Add(_all[id]);
                }
            }
        }

        return new ValueTask<IReadOnlyList<LoggedEvent>>(result);
    }

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<LoggedEvent>> ReadPendingAsync(long afterId, int max, CancellationToken cancellationToken)
    {
        lock (_sync)
        {
            if (afterId == long.MaxValue || _pending.Count == 0)
            {
                return new ValueTask<IReadOnlyList<LoggedEvent>>([]);
            }

            var after = _pending.GetViewBetween(afterId + 1, long.MaxValue);
            return new ValueTask<IReadOnlyList<LoggedEvent>>([.. after.Take(max).Select(id => _all[id])]);
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
            if (!_all.TryGetValue(logged.Id, out var previous))
            {
                throw new InvalidOperationException($"Event {logged.Id} is not in the log.");
            }

            _all[logged.Id] = logged;
            if (logged.State == EventState.Succeeded && previous.State != EventState.Succeeded)
            {
                _succeeded.Enqueue((logged.Id, _timeProvider.GetUtcNow()));
            }

            if (logged.IsTerminal && !previous.IsTerminal)
            {
                RemovePending(logged);
            }
            else if (!logged.IsTerminal && previous.IsTerminal)
            {
                AddPending(logged);
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

    /// <inheritdoc />
    public ValueTask<long?> ReplayAsync(long id, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_sync)
        {
            if (!_all.TryGetValue(id, out var dead) || dead.State != EventState.DeadLettered)
            {
                return new ValueTask<long?>((long?)null);
            }

            _all.Remove(id);
            return new ValueTask<long?>(Add(dead.Key, dead.Payload, dead.TraceParent, _timeProvider.GetUtcNow()));
        }
    }

    /// <inheritdoc />
    public ValueTask<int> DeleteSucceededAsync(DateTimeOffset finishedBefore, int max, CancellationToken cancellationToken)
    {
        lock (_sync)
        {
            PurgeExpiredIdempotencyKeys(_timeProvider.GetUtcNow());
            var deleted = 0;
            while (deleted < max && _succeeded.TryPeek(out var oldest) && oldest.FinishedAt < finishedBefore)
            {
                _succeeded.Dequeue();
                if (_all.TryGetValue(oldest.Id, out var logged) && logged.State == EventState.Succeeded)
                {
                    _all.Remove(oldest.Id);
                    deleted++;
                }
            }

            return new ValueTask<int>(deleted);
        }
    }

    private long Add(string key, string payload, string? traceParent, DateTimeOffset acceptedAt)
    {
        var logged = new LoggedEvent(++_nextId, key, payload) { AcceptedAt = acceptedAt, TraceParent = traceParent };
        _all[logged.Id] = logged;
        AddPending(logged);
        return logged.Id;
    }

    private void AddPending(LoggedEvent logged)
    {
        _pending.Add(logged.Id);
        if (!_pendingByKey.TryGetValue(logged.Key, out var ids))
        {
            _pendingByKey[logged.Key] = ids = [];
        }

        var oldHead = ids.Count > 0 ? ids.Min : (long?)null;
        ids.Add(logged.Id);
        if (oldHead is null || logged.Id < oldHead)
        {
            if (oldHead is { } old)
            {
                _heads.Remove(old);
            }

            _heads[logged.Id] = logged.Key;
        }
    }

    private void RemovePending(LoggedEvent logged)
    {
        _pending.Remove(logged.Id);
        var ids = _pendingByKey[logged.Key];
        var wasHead = ids.Min == logged.Id;
        ids.Remove(logged.Id);
        if (!wasHead)
        {
            return;
        }

        _heads.Remove(logged.Id);
        if (ids.Count == 0)
        {
            _pendingByKey.Remove(logged.Key);
        }
        else
        {
            _heads[ids.Min] = logged.Key;
        }
    }

    /// <summary>Windows have one length per ingestion, so keys expire in the order they were recorded.</summary>
    private void PurgeExpiredIdempotencyKeys(DateTimeOffset now)
    {
        while (_idempotencyExpiry.TryPeek(out var oldest) && oldest.ExpiresAt <= now)
        {
            _idempotencyExpiry.Dequeue();
            if (_idempotency.TryGetValue(oldest.Key, out var record) && record.ExpiresAt == oldest.ExpiresAt)
            {
                _idempotency.Remove(oldest.Key);
            }
        }
    }

    private sealed record IdempotencyRecord(string Fingerprint, IReadOnlyList<long> Ids, DateTimeOffset ExpiresAt);
}
