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
/// <para>Times (retry times, idempotency windows, finish times) come from the application's clock, the one the
/// dispatcher computes retry times with.</para>
/// </remarks>
public sealed class PostgreSqlEventLog : IEventLog
{
    private readonly NpgsqlDataSource _dataSource;
    private readonly string _ingestion;
    private readonly EventLogSql _sql;
    private readonly TimeProvider _timeProvider;

    /// <summary>Initializes the log of one ingestion; the schema must exist (<see cref="PostgreSqlSchema.GetMigrationScript"/>).</summary>
    /// <param name="dataSource">The data source.</param>
    /// <param name="ingestion">The name of the ingestion the log belongs to.</param>
    /// <param name="schema">The schema of the tables; <c>coordination</c> by default.</param>
    /// <param name="timeProvider">The clock; <see cref="TimeProvider.System"/> when <see langword="null"/>.</param>
    public PostgreSqlEventLog(NpgsqlDataSource dataSource, string ingestion, string schema = PostgreSqlSchema.DefaultSchema, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(dataSource);
        ArgumentException.ThrowIfNullOrEmpty(ingestion);
        _dataSource = dataSource;
        _ingestion = ingestion;
        _sql = new EventLogSql(schema);
        _timeProvider = timeProvider ?? TimeProvider.System;
    }

    /// <inheritdoc />
    public async ValueTask<AppendResult> AppendAsync(IReadOnlyList<NewEvent> events, IdempotentAppend? idempotency, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(events);
        cancellationToken.ThrowIfCancellationRequested();
        var keys = new string[events.Count];
        var payloads = new string[events.Count];
        for (var i = 0; i < events.Count; i++)
        {
            keys[i] = events[i].Key;
            payloads[i] = events[i].Payload;
        }

        using var command = Command(
            _sql.Append,
            ("keys", keys, NpgsqlDbType.Array | NpgsqlDbType.Text),
            ("payloads", payloads, NpgsqlDbType.Array | NpgsqlDbType.Text),
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
    public async ValueTask<IReadOnlyList<LoggedEvent>> ReadDispatchableAsync(DispatchQuery query, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(query);
        using var command = Command(
            _sql.ReadDispatchable,
            ("held", query.HeldKeys.ToArray(), NpgsqlDbType.Array | NpgsqlDbType.Text),
            ("now", query.Now, NpgsqlDbType.TimestampTz),
            ("max_keys", query.MaxKeys, NpgsqlDbType.Integer),
            ("max_events", query.MaxEvents, NpgsqlDbType.Integer));
        return await ReadEventsAsync(command, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask<IReadOnlyList<LoggedEvent>> ReadPendingAsync(long afterId, int max, CancellationToken cancellationToken)
    {
        using var command = Command(_sql.ReadPending, ("after", afterId, NpgsqlDbType.Bigint), ("max", max, NpgsqlDbType.Integer));
        return await ReadEventsAsync(command, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask<LoggedEvent?> GetAsync(long id, CancellationToken cancellationToken)
    {
        using var command = Command(_sql.Get, ("id", id, NpgsqlDbType.Bigint));
        var events = await ReadEventsAsync(command, cancellationToken).ConfigureAwait(false);
        return events.Count == 0 ? null : events[0];
    }

    /// <inheritdoc />
    public async ValueTask SaveStateAsync(LoggedEvent logged, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(logged);
        using var command = Command(
            _sql.SaveState,
            ("id", logged.Id, NpgsqlDbType.Bigint),
            ("state", (short)logged.State, NpgsqlDbType.Smallint),
            ("attempts", logged.Attempts, NpgsqlDbType.Integer),
            ("last_error", logged.LastError, NpgsqlDbType.Text),
            ("blocking_id", logged.BlockingId, NpgsqlDbType.Bigint),
            ("retry_at", logged.RetryAt, NpgsqlDbType.TimestampTz),
            ("now", _timeProvider.GetUtcNow(), NpgsqlDbType.TimestampTz));
        if (await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) == 0)
        {
            throw new InvalidOperationException($"Event {logged.Id} is not in the log of ingestion '{_ingestion}'.");
        }
    }

    /// <inheritdoc />
    public async ValueTask<bool> SetParkedAsync(string key, bool parked, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        using var command = parked
            ? Command(_sql.Park, ("key", key, NpgsqlDbType.Text), ("now", _timeProvider.GetUtcNow(), NpgsqlDbType.TimestampTz))
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

    private static async Task<List<LoggedEvent>> ReadEventsAsync(NpgsqlCommand command, CancellationToken cancellationToken)
    {
        var events = new List<LoggedEvent>();
        var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        await using (reader.ConfigureAwait(false))
        {
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                events.Add(EventLogSql.ReadEvent(reader));
            }
        }

        return events;
    }

    private NpgsqlCommand Command(string sql, params (string Name, object? Value, NpgsqlDbType Type)[] parameters)
    {
        var command = _dataSource.CreateCommand(sql);
        command.Parameters.Add(new NpgsqlParameter("ingestion", NpgsqlDbType.Text) { Value = _ingestion });
        foreach (var (name, value, type) in parameters)
        {
            command.Parameters.Add(new NpgsqlParameter(name, type) { Value = value ?? DBNull.Value });
        }

        return command;
    }
}
