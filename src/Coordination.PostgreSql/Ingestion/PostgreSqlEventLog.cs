using Coordination.Ingestion;
using Npgsql;
using NpgsqlTypes;

namespace Coordination.PostgreSql;

/// <summary>An <see cref="IEventLog"/> in PostgreSQL: accepted events survive a restart of the process and of the
/// database, and every process of a fleet using the same database and schema sees the same log.</summary>
/// <remarks>
/// <para>An append is one transaction in one round trip (a function call): all events are accepted or none, and the
/// idempotency key is recorded in the same transaction. Before inserting, it takes a transaction-scoped advisory lock
/// per distinct key of the append, in lock-id order: appends to one key are serialized until their commit, so ids
/// become visible in id order within a key and the dispatcher never reads past a gap. Appends to different keys do not
/// wait for each other.</para>
/// <para>One process at a time dispatches an ingestion's events: the one holding its dispatch lease
/// (<see cref="AcquireDispatchLeaseAsync"/>, renewed at a third of <c>dispatchLeaseDuration</c>). The lease passes to
/// another process only after its holder released it (<see cref="DisposeAsync"/>, when the host stops) or let it
/// lapse; every state save of an event read under a lease is fenced by its token, so a former holder's late saves are
/// rejected and change nothing. Every process accepts events.</para>
/// <para>State saves are group-committed: the saves the dispatcher's workers make while one statement is being written
/// go together in the next (<see cref="EventStateWriter"/>).</para>
/// <para>Times (retry times, idempotency windows, leases) come from the application's clock, the one the dispatcher
/// computes retry times with: the clocks of a fleet must agree to well within the lease duration.</para>
/// </remarks>
public sealed class PostgreSqlEventLog : IEventLog, IAsyncDisposable
{
    private static readonly TimeSpan DefaultDispatchLeaseDuration = TimeSpan.FromSeconds(15);

    private readonly NpgsqlDataSource _dataSource;
    private readonly string _ingestion;
    private readonly EventLogSql _sql;
    private readonly TimeProvider _timeProvider;
    private readonly TimeSpan _leaseDuration;
    private readonly string _owner = Guid.NewGuid().ToString("N");
    private readonly EventStateWriter _states;

    // The lease this process holds (0: none), the last one it held (fences the parking of keys), when it was last
    // renewed, and when another process was last found holding it (0: not since); written by the dispatcher loop only.
    private long _leaseToken;
    private long _lastLeaseToken;
    private long _renewedAt;
    private long _refusedAt;

    /// <summary>Initializes the log of one ingestion; the schema must exist (<see cref="PostgreSqlSchema.GetMigrationScript"/>).</summary>
    /// <param name="dataSource">The data source.</param>
    /// <param name="ingestion">The name of the ingestion the log belongs to.</param>
    /// <param name="schema">The schema of the tables; <c>coordination</c> by default.</param>
    /// <param name="timeProvider">The clock; <see cref="TimeProvider.System"/> when <see langword="null"/>.</param>
    /// <param name="dispatchLeaseDuration">How long the dispatch lease lasts without renewal: after a crash, the time
    /// before another process takes over. 15 seconds when <see langword="null"/>.</param>
    public PostgreSqlEventLog(NpgsqlDataSource dataSource, string ingestion, string schema = PostgreSqlSchema.DefaultSchema, TimeProvider? timeProvider = null, TimeSpan? dispatchLeaseDuration = null)
    {
        ArgumentNullException.ThrowIfNull(dataSource);
        ArgumentException.ThrowIfNullOrEmpty(ingestion);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(dispatchLeaseDuration ?? DefaultDispatchLeaseDuration, TimeSpan.Zero, nameof(dispatchLeaseDuration));
        _leaseDuration = dispatchLeaseDuration ?? DefaultDispatchLeaseDuration;
        _dataSource = dataSource;
        _ingestion = ingestion;
        _sql = new EventLogSql(schema);
        _timeProvider = timeProvider ?? TimeProvider.System;
        _states = new EventStateWriter(dataSource, ingestion, _sql.SaveStates, _timeProvider);
    }

    /// <inheritdoc />
    public async ValueTask<AppendResult> AppendAsync(IReadOnlyList<NewEvent> events, IdempotentAppend? idempotency, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(events);
        cancellationToken.ThrowIfCancellationRequested();
        var keys = new string[events.Count];
        var payloads = new string[events.Count];
        var traceParents = new string?[events.Count];
        for (var i = 0; i < events.Count; i++)
        {
            keys[i] = events[i].Key;
            payloads[i] = events[i].Payload;
            traceParents[i] = events[i].TraceParent;
        }

        using var command = Command(
            _sql.Append,
            ("keys", keys, NpgsqlDbType.Array | NpgsqlDbType.Text),
            ("payloads", payloads, NpgsqlDbType.Array | NpgsqlDbType.Text),
            ("trace_parents", traceParents, NpgsqlDbType.Array | NpgsqlDbType.Text),
            ("scope", idempotency is null ? null : idempotency.Scope is null ? string.Empty : "user:" + idempotency.Scope, NpgsqlDbType.Text),
            ("idempotency_key", idempotency?.Key, NpgsqlDbType.Text),
            ("fingerprint", idempotency?.Fingerprint, NpgsqlDbType.Text),
            ("now", _timeProvider.GetUtcNow(), NpgsqlDbType.TimestampTz),
            ("window", idempotency?.Window ?? TimeSpan.Zero, NpgsqlDbType.Interval));
        var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        await using (reader.ConfigureAwait(false))
        {
            await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            return new AppendResult((AppendOutcome)reader.GetInt32(0), reader.GetFieldValue<long[]>(1));
        }
    }

    /// <inheritdoc />
    public async ValueTask<long?> AcquireDispatchLeaseAsync(CancellationToken cancellationToken)
    {
        var token = Volatile.Read(ref _leaseToken);
        if (token != 0 && _timeProvider.GetElapsedTime(_renewedAt) < _leaseDuration / 3)
        {
            return token;
        }

        // Another process held the lease a moment ago: ask again only after a fifteenth of the lease. Every append wakes
        // the dispatcher, and each ask is a write (it locks the lease row), so a node that does not dispatch would
        // otherwise add a transaction to every append it accepts.
        if (token == 0 && _refusedAt != 0 && _timeProvider.GetElapsedTime(_refusedAt) < _leaseDuration / 15)
        {
            return null;
        }

        var renewedAt = _timeProvider.GetTimestamp();
        using var command = Command(
            _sql.AcquireLease,
            ("owner", _owner, NpgsqlDbType.Text),
            ("now", _timeProvider.GetUtcNow(), NpgsqlDbType.TimestampTz),
            ("duration", _leaseDuration, NpgsqlDbType.Interval));
        token = await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) is long acquired ? acquired : 0;
        _renewedAt = renewedAt;
        _refusedAt = token == 0 ? renewedAt : 0;
        Volatile.Write(ref _leaseToken, token);
        if (token != 0)
        {
            Volatile.Write(ref _lastLeaseToken, token);
        }

        return token == 0 ? null : token;
    }

    /// <inheritdoc />
    public async ValueTask<IReadOnlyList<LoggedEvent>> ReadDispatchableAsync(DispatchQuery query, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(query);
        var token = Volatile.Read(ref _leaseToken);
        using var command = Command(
            _sql.ReadDispatchable,
            ("held", query.HeldKeys.ToArray(), NpgsqlDbType.Array | NpgsqlDbType.Text),
            ("now", query.Now, NpgsqlDbType.TimestampTz),
            ("max_keys", query.MaxKeys, NpgsqlDbType.Integer),
            ("max_events", query.MaxEvents, NpgsqlDbType.Integer));
        return await ReadEventsAsync(command, token == 0 ? null : token, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask<IReadOnlyList<LoggedEvent>> ReadPendingAsync(long afterId, int max, CancellationToken cancellationToken)
    {
        using var command = Command(_sql.ReadPending, ("after", afterId, NpgsqlDbType.Bigint), ("max", max, NpgsqlDbType.Integer));
        return await ReadEventsAsync(command, leaseToken: null, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask<LoggedEvent?> GetAsync(long id, CancellationToken cancellationToken)
    {
        using var command = Command(_sql.Get, ("id", id, NpgsqlDbType.Bigint));
        var events = await ReadEventsAsync(command, leaseToken: null, cancellationToken).ConfigureAwait(false);
        return events.Count == 0 ? null : events[0];
    }

    /// <inheritdoc />
    public async ValueTask SaveStateAsync(LoggedEvent logged, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(logged);
        switch (await _states.SaveAsync(logged).WaitAsync(cancellationToken).ConfigureAwait(false))
        {
            case EventStateWriter.Outcome.LeaseLost:
                throw new DispatchLeaseLostException($"Event {logged.Id} of ingestion '{_ingestion}' was read under dispatch lease {logged.LeaseToken}, which passed to another process; its new state ({logged.State}) was not saved.");
            case EventStateWriter.Outcome.Missing:
                throw new InvalidOperationException($"Event {logged.Id} is not in the log of ingestion '{_ingestion}'.");
        }
    }

    /// <inheritdoc />
    public async ValueTask<bool> SetParkedAsync(string key, bool parked, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        using var command = parked
            ? Command(_sql.Park, ("key", key, NpgsqlDbType.Text), ("now", _timeProvider.GetUtcNow(), NpgsqlDbType.TimestampTz), ("token", LastLease(), NpgsqlDbType.Bigint))
            : Command(_sql.Release, ("key", key, NpgsqlDbType.Text));
        return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) > 0;
    }

    /// <inheritdoc />
    public async ValueTask<IReadOnlySet<string>> ParkedKeysAsync(CancellationToken cancellationToken)
    {
        using var command = Command(_sql.ParkedKeys);
        var keys = new HashSet<string>(StringComparer.Ordinal);
        var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        await using (reader.ConfigureAwait(false))
        {
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                keys.Add(reader.GetString(0));
            }
        }

        return keys;
    }

    /// <inheritdoc />
    public async ValueTask<long?> ReplayAsync(long id, CancellationToken cancellationToken)
    {
        // One batch is one implicit transaction: the key's lock is held until the copy is committed.
        using var batch = Batch(
            (_sql.LockDeadLetterKey, [("id", id, NpgsqlDbType.Bigint)]),
            (_sql.Replay, [("id", id, NpgsqlDbType.Bigint), ("now", _timeProvider.GetUtcNow(), NpgsqlDbType.TimestampTz)]));
        var reader = await batch.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        await using (reader.ConfigureAwait(false))
        {
            await reader.NextResultAsync(cancellationToken).ConfigureAwait(false);
            return await reader.ReadAsync(cancellationToken).ConfigureAwait(false) ? reader.GetInt64(0) : null;
        }
    }

    /// <inheritdoc />
    public async ValueTask<int> DeleteSucceededAsync(DateTimeOffset finishedBefore, int max, CancellationToken cancellationToken)
    {
        using var batch = Batch(
            (_sql.DeleteSucceeded, [("before", finishedBefore, NpgsqlDbType.TimestampTz), ("max", max, NpgsqlDbType.Integer)]),
            (_sql.DeleteExpiredIdempotencyKeys, [("now", _timeProvider.GetUtcNow(), NpgsqlDbType.TimestampTz)]));
        return (int)(await batch.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
    }

    /// <summary>Ends this process's dispatch lease, so another process takes over at once instead of after it lapses.</summary>
    /// <returns>A task that completes when the lease is released.</returns>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _leaseToken, 0) == 0)
        {
            return;
        }

        try
        {
            using var command = Command(_sql.ReleaseLease, ("owner", _owner, NpgsqlDbType.Text));
            await command.ExecuteNonQueryAsync().ConfigureAwait(false);
        }
        catch (NpgsqlException)
        {
            // The database is unreachable: the lease lapses after its duration instead.
        }
    }

    private long? LastLease() => Volatile.Read(ref _lastLeaseToken) is var token and not 0 ? token : null;

    private static async Task<List<LoggedEvent>> ReadEventsAsync(NpgsqlCommand command, long? leaseToken, CancellationToken cancellationToken)
    {
        var events = new List<LoggedEvent>();
        var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        await using (reader.ConfigureAwait(false))
        {
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                events.Add(EventLogSql.ReadEvent(reader, leaseToken));
            }
        }

        return events;
    }

    private NpgsqlCommand Command(string sql, params (string Name, object? Value, NpgsqlDbType Type)[] parameters)
    {
        var command = _dataSource.CreateCommand(sql);
        AddParameters(command.Parameters, parameters);
        return command;
    }

    private NpgsqlBatch Batch(params (string Sql, (string Name, object? Value, NpgsqlDbType Type)[] Parameters)[] commands)
    {
        var batch = _dataSource.CreateBatch();
        foreach (var (sql, parameters) in commands)
        {
            var command = new NpgsqlBatchCommand(sql);
            AddParameters(command.Parameters, parameters);
            batch.BatchCommands.Add(command);
        }

        return batch;
    }

    private void AddParameters(NpgsqlParameterCollection collection, (string Name, object? Value, NpgsqlDbType Type)[] parameters)
    {
        collection.Add(new NpgsqlParameter("ingestion", NpgsqlDbType.Text) { Value = _ingestion });
        foreach (var (name, value, type) in parameters)
        {
            collection.Add(new NpgsqlParameter(name, type) { Value = value ?? DBNull.Value });
        }
    }
}
