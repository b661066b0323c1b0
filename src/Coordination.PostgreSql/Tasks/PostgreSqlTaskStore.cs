using Coordination.Tasks;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using NpgsqlTypes;

namespace Coordination.PostgreSql;

/// <summary>An <see cref="ITaskStore"/> in PostgreSQL, shared by every process that uses the same database and schema.</summary>
/// <remarks>
/// <para>The database's <c>now()</c> is the only clock. Ids come from an identity column and are never reused.
/// <see cref="DoAsync(IReadOnlyList{TaskOp}, CancellationToken)"/> is one transaction in one round trip: it locks the
/// named tasks, checks every fence, applies the operations and sends the wake-up notifications, which PostgreSQL delivers
/// only if it commits. Claims take a batch in one statement with <c>FOR UPDATE SKIP LOCKED</c>. Completed tasks are
/// deleted, so the table holds only live work.</para>
/// <para>Wake-ups (<see cref="ITaskReadyNotifier"/>) come from one <c>LISTEN</c> connection per store that reconnects after
/// a failure; they are hints, and workers still poll.</para>
/// </remarks>
public sealed class PostgreSqlTaskStore : ITaskStore, ITaskReadyNotifier, IAsyncDisposable
{
    private readonly NpgsqlDataSource _dataSource;
    private readonly TaskSql _sql;
    private readonly TaskNotificationListener _listener;

    /// <summary>Initializes a store over a data source; the schema must exist (<see cref="PostgreSqlSchema.GetMigrationScript"/>).</summary>
    /// <param name="dataSource">The data source.</param>
    /// <param name="schema">The schema of the tables; <c>coordination</c> by default.</param>
    /// <param name="logger">Logs connection failures of the notification listener.</param>
    public PostgreSqlTaskStore(NpgsqlDataSource dataSource, string schema = PostgreSqlSchema.DefaultSchema, ILogger<PostgreSqlTaskStore>? logger = null)
        : this(dataSource, schema, logger ?? (ILogger)NullLogger.Instance, TimeSpan.FromSeconds(5), clock: null)
    {
    }

    /// <summary>Initializes a store; <paramref name="clock"/> replaces the database's clock (conformance tests only).</summary>
    internal PostgreSqlTaskStore(NpgsqlDataSource dataSource, string schema, ILogger logger, TimeSpan notificationCheckTimeout, TimeProvider? clock)
    {
        ArgumentNullException.ThrowIfNull(dataSource);
        _dataSource = dataSource;
        _sql = new TaskSql(schema);
        Clock = clock;
        _listener = new TaskNotificationListener(dataSource, _sql.Channel, logger, notificationCheckTimeout);
    }

    /// <summary>Gets the clock that replaces the database's in the conformance tests; <see langword="null"/> otherwise.</summary>
    internal TimeProvider? Clock { get; }

    /// <inheritdoc />
    public IDisposable Subscribe(string group, Action onReady) => _listener.Subscribe(group, onReady);

    /// <inheritdoc />
    public async ValueTask<IReadOnlyList<TaskItem>> DoAsync(IReadOnlyList<TaskOp> operations, CancellationToken cancellationToken = default)
    {
        var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            return await DoAsync(connection, transaction: null, operations, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Applies operations inside the caller's transaction: they take effect, and wake workers, only when the
    /// caller commits, and vanish if it rolls back (transactional enqueue, the outbox pattern).</summary>
    /// <param name="transaction">The caller's open transaction on a connection to the store's database.</param>
    /// <param name="operations">The operations; a task may appear in only one of them.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The task each operation produced.</returns>
    /// <exception cref="LeaseLostException">A fence failed: the caller's transaction is aborted and must be rolled back.</exception>
    public ValueTask<IReadOnlyList<TaskItem>> DoAsync(NpgsqlTransaction transaction, IReadOnlyList<TaskOp> operations, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(transaction);
        var connection = transaction.Connection ?? throw new ArgumentException("The transaction is already completed.", nameof(transaction));
        return DoAsync(connection, transaction, operations, cancellationToken);
    }

    /// <inheritdoc />
    public async ValueTask<TaskItem?> QueryAsync(string group, TimeSpan ownFor, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(group);
        ArgumentOutOfRangeException.ThrowIfLessThan(ownFor, TimeSpan.Zero);
        if (ownFor == TimeSpan.Zero)
        {
            using var peek = Command(_sql.Peek, ("group", group, NpgsqlDbType.Text));
            var peeked = await ReadTasksAsync(peek, cancellationToken).ConfigureAwait(false);
            return peeked.Count == 0 ? null : peeked[0];
        }

        var claimed = await ClaimBatchAsync(group, ownFor, 1, cancellationToken).ConfigureAwait(false);
        return claimed.Count == 0 ? null : claimed[0];
    }

    /// <inheritdoc />
    public async ValueTask<IReadOnlyList<TaskItem>> ClaimBatchAsync(string group, TimeSpan ownFor, int max, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(group);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(ownFor, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThan(max, 1);
        using var command = Command(_sql.ClaimBatch, ("group", group, NpgsqlDbType.Text), ("max", max, NpgsqlDbType.Integer), ("delay", ownFor, NpgsqlDbType.Interval));
        var claimed = new List<(DateTimeOffset ClaimedFrom, TaskItem Task)>(max);
        var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        await using (reader.ConfigureAwait(false))
        {
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                claimed.Add((reader.GetFieldValue<DateTimeOffset>(10), TaskSql.ReadTask(reader)));
            }
        }

        // UPDATE … RETURNING keeps no order: hand the tasks out in the order they were picked.
        return [.. claimed.OrderBy(c => c.ClaimedFrom).ThenBy(c => c.Task.Id).Select(c => c.Task)];
    }

    /// <inheritdoc />
    public async ValueTask<TaskGroupCounts> CountAsync(string group, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(group);
        using var command = Command(_sql.Count, ("group", group, NpgsqlDbType.Text));
        var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        await using (reader.ConfigureAwait(false))
        {
            await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            return new TaskGroupCounts((int)reader.GetInt64(0), (int)reader.GetInt64(1), (int)reader.GetInt64(2));
        }
    }

    /// <inheritdoc />
    public async ValueTask<TaskClaim?> ClaimAsync(string group, long taskId, string workerId, TimeSpan ttl, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(group);
        ArgumentException.ThrowIfNullOrEmpty(workerId);
        using var command = Command(_sql.Claim, [("id", taskId, NpgsqlDbType.Bigint), ("group", group, NpgsqlDbType.Text), ("worker", workerId, NpgsqlDbType.Text), .. Ttl(ttl)]);
        if (await ReadClaimAsync(command, workerId, cancellationToken).ConfigureAwait(false) is { } claim)
        {
            return claim;
        }

        // Not claimed: the task is leased or scheduled (null), unless it is gone or in another group.
        var state = await ClaimStateAsync(group, taskId, workerId, cancellationToken).ConfigureAwait(false);
        return state is { InGroup: true } ? null : throw NotFound(group, taskId, workerId);
    }

    /// <inheritdoc />
    public async ValueTask ReleaseAsync(string group, long taskId, string workerId, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(group);
        ArgumentException.ThrowIfNullOrEmpty(workerId);
        using (var command = Command(_sql.Release, ("id", taskId, NpgsqlDbType.Bigint), ("group", group, NpgsqlDbType.Text), ("worker", workerId, NpgsqlDbType.Text)))
        {
            if (await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) is not null)
            {
                return;
            }
        }

        throw await ClaimFailureAsync(group, taskId, workerId, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask<TaskClaim> ExtendAsync(string group, long taskId, string workerId, TimeSpan ttl, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(group);
        ArgumentException.ThrowIfNullOrEmpty(workerId);
        using (var command = Command(_sql.Extend, [("id", taskId, NpgsqlDbType.Bigint), ("group", group, NpgsqlDbType.Text), ("worker", workerId, NpgsqlDbType.Text), .. Ttl(ttl)]))
        {
            if (await ReadClaimAsync(command, workerId, cancellationToken).ConfigureAwait(false) is { } claim)
            {
                return claim;
            }
        }

        throw await ClaimFailureAsync(group, taskId, workerId, cancellationToken, lapsedIsLost: true).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask<IReadOnlyList<TaskItem>> FindAvailableAsync(string workerId, int limit, IReadOnlyCollection<string>? groups = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(workerId);
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        using var command = Command(
            _sql.FindAvailable,
            ("worker", workerId, NpgsqlDbType.Text),
            ("max", limit, NpgsqlDbType.Integer),
            ("groups", groups?.ToArray(), NpgsqlDbType.Array | NpgsqlDbType.Text));
        return await ReadTasksAsync(command, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Stops the notification listener.</summary>
    /// <returns>A task that completes when it stopped.</returns>
    public ValueTask DisposeAsync() => _listener.DisposeAsync();

    private static async Task<List<TaskItem>> ReadTasksAsync(NpgsqlCommand command, CancellationToken cancellationToken)
    {
        var tasks = new List<TaskItem>();
        var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        await using (reader.ConfigureAwait(false))
        {
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                tasks.Add(TaskSql.ReadTask(reader));
            }
        }

        return tasks;
    }

    private static async Task<TaskClaim?> ReadClaimAsync(NpgsqlCommand command, string workerId, CancellationToken cancellationToken)
    {
        var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        await using (reader.ConfigureAwait(false))
        {
            if (!await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                return null;
            }

            var task = TaskSql.ReadTask(reader);
            return new TaskClaim(task, workerId, reader.GetFieldValue<DateTimeOffset>(10), task.NotBefore);
        }
    }

    /// <summary>The parameters of a claim's TTL: <c>@forever</c> for <see cref="Timeout.InfiniteTimeSpan"/> (a claim that lasts
    /// until released, stored as <c>'infinity'</c>), else <c>@delay</c>.</summary>
    private static (string, object?, NpgsqlDbType)[] Ttl(TimeSpan ttl)
    {
        var forever = ttl == Timeout.InfiniteTimeSpan;
        if (ttl <= TimeSpan.Zero && !forever)
        {
            throw new ArgumentOutOfRangeException(nameof(ttl), ttl, "A claim's TTL must be positive, or Timeout.InfiniteTimeSpan for a claim that lasts until released.");
        }

        return [("forever", forever, NpgsqlDbType.Boolean), ("delay", forever ? TimeSpan.Zero : ttl, NpgsqlDbType.Interval)];
    }

    private static ClaimNotFoundException NotFound(string group, long taskId, string workerId) =>
        new($"Task {taskId} is not in group '{group}'.") { TaskId = taskId, WorkerId = workerId };

    private async ValueTask<IReadOnlyList<TaskItem>> DoAsync(NpgsqlConnection connection, NpgsqlTransaction? transaction, IReadOnlyList<TaskOp> operations, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(operations);
        var named = operations.Where(op => op.Kind != TaskOpKind.Create).Select(op => op.Task.Id).ToList();
        if (named.Distinct().Count() != named.Count)
        {
            throw new ArgumentException("A task appears in more than one operation of the same call.", nameof(operations));
        }

        if (operations.Count == 0)
        {
            return [];
        }

        var operationBatch = new TaskOperationBatch(_sql, Clock, operations);
        using var batch = operationBatch.Build(connection, transaction);
        try
        {
            return await operationBatch.ExecuteAsync(batch, cancellationToken).ConfigureAwait(false);
        }
        catch (PostgresException exception) when (exception.SqlState is TaskSql.FenceFailedState or TaskSql.TaskGoneState)
        {
            var (id, version) = TaskOperationBatch.ParseFence(exception.MessageText);
            throw new LeaseLostException(exception.MessageText, exception) { TaskId = id, LeaseVersion = version, TaskGone = exception.SqlState == TaskSql.TaskGoneState };
        }
    }

    private async Task<(bool InGroup, bool OwnClaim, bool Current, bool Leased)?> ClaimStateAsync(string group, long taskId, string workerId, CancellationToken cancellationToken)
    {
        using var command = Command(_sql.ClaimState, ("id", taskId, NpgsqlDbType.Bigint), ("group", group, NpgsqlDbType.Text), ("worker", workerId, NpgsqlDbType.Text));
        var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        await using (reader.ConfigureAwait(false))
        {
            return await reader.ReadAsync(cancellationToken).ConfigureAwait(false)
                ? (reader.GetBoolean(0), reader.GetBoolean(1), reader.GetBoolean(2), reader.GetBoolean(3))
                : null;
        }
    }

    /// <summary>Tells why a release or extension by <paramref name="workerId"/> changed nothing, as the in-memory store does.</summary>
    private async Task<Exception> ClaimFailureAsync(string group, long taskId, string workerId, CancellationToken cancellationToken, bool lapsedIsLost = false)
    {
        var state = await ClaimStateAsync(group, taskId, workerId, cancellationToken).ConfigureAwait(false);
        if (state is not { InGroup: true } found)
        {
            return NotFound(group, taskId, workerId);
        }

        if (found is { OwnClaim: true, Current: true } && lapsedIsLost)
        {
            return new ClaimLostException($"Task {taskId}: the claim of worker '{workerId}' ran out; it is not revived.") { TaskId = taskId, WorkerId = workerId };
        }

        return found.Leased || (found.OwnClaim && !found.Current)
            ? new ClaimLostException($"Task {taskId}: worker '{workerId}' does not hold it any more; {(found.Leased ? "another holder has it" : "it was taken over since")}.") { TaskId = taskId, WorkerId = workerId }
            : new ClaimNotFoundException($"Task {taskId} has no claim by worker '{workerId}'.") { TaskId = taskId, WorkerId = workerId };
    }

    private NpgsqlCommand Command(string sql, params ReadOnlySpan<(string Name, object? Value, NpgsqlDbType Type)> parameters)
    {
        var command = _dataSource.CreateCommand(sql);
        TaskSql.AddNow(command.Parameters, Clock);
        foreach (var (name, value, type) in parameters)
        {
            command.Parameters.Add(TaskSql.Parameter(name, value, type));
        }

        return command;
    }
}
