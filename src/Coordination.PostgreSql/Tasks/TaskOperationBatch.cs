using System.Globalization;
using System.Text.RegularExpressions;
using Coordination.Tasks;
using Npgsql;
using NpgsqlTypes;

namespace Coordination.PostgreSql;

/// <summary>Turns the operations of one atomic <see cref="ITaskStore.DoAsync(IReadOnlyList{TaskOp}, CancellationToken)"/>
/// call into one <see cref="NpgsqlBatch"/>: the fence check first, then one statement per operation, then the wake-up
/// notifications. A batch runs as one transaction (implicit, or the caller's), so a failed fence changes nothing.</summary>
internal sealed partial class TaskOperationBatch(TaskSql sql, TimeProvider? clock, IReadOnlyList<TaskOp> operations)
{
    /// <summary>Whether the batch starts with the fence check; its result set comes before the operations'.</summary>
    private bool _fenced;

    public NpgsqlBatch Build(NpgsqlConnection connection, NpgsqlTransaction? transaction)
    {
        var named = operations.Where(op => op.Kind != TaskOpKind.Create).Select(op => op.Task).ToList();
        var batch = new NpgsqlBatch(connection, transaction);
        if (named.Count > 0)
        {
            _fenced = true;
            batch.BatchCommands.Add(Statement(
                sql.LockFenced,
                TaskSql.Parameter("ids", named.Select(task => task.Id).ToArray(), NpgsqlDbType.Array | NpgsqlDbType.Bigint),
                TaskSql.Parameter("versions", named.Select(task => task.LeaseVersion).ToArray(), NpgsqlDbType.Array | NpgsqlDbType.Bigint)));
        }

        foreach (var op in operations)
        {
            batch.BatchCommands.Add(StatementFor(op));
        }

        // Wake listeners of the groups where a task may be ready now; PostgreSQL delivers them only on commit.
        var woken = operations.Where(MayBeReadyNow).Select(op => op.Kind == TaskOpKind.Move ? op.Group! : op.Task.Group).Distinct(StringComparer.Ordinal).ToArray();
        if (woken.Length > 0)
        {
            batch.BatchCommands.Add(Statement(
                sql.Notify,
                TaskSql.Parameter("channel", sql.Channel, NpgsqlDbType.Text),
                TaskSql.Parameter("groups", woken, NpgsqlDbType.Array | NpgsqlDbType.Text)));
        }

        return batch;
    }

    /// <summary>Runs the batch <see cref="Build"/> made and reads the task each operation produced.</summary>
    public async Task<IReadOnlyList<TaskItem>> ExecuteAsync(NpgsqlBatch batch, CancellationToken cancellationToken)
    {
        var results = new TaskItem[operations.Count];
        var reader = await batch.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        await using var readerDisposal = reader.ConfigureAwait(false);
        if (_fenced)
        {
            await reader.NextResultAsync(cancellationToken).ConfigureAwait(false);
        }

        for (var i = 0; i < results.Length; i++)
        {
            // The fence locked every named row, so each statement finds its task.
            if (!await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                throw new InvalidOperationException($"Operation {i} of the batch returned no task although its fence held.");
            }

            results[i] = TaskSql.ReadTask(reader);
            await reader.NextResultAsync(cancellationToken).ConfigureAwait(false);
        }

        return results;
    }

    /// <summary>Reads the (id, lease version) the fence check names at the start of its message (Npgsql hides the
    /// error detail unless the connection string asks for it).</summary>
    public static (long Id, long LeaseVersion) ParseFence(string message)
    {
        var match = FenceMessage().Match(message);
        return match.Success
            ? (long.Parse(match.Groups[1].ValueSpan, CultureInfo.InvariantCulture), long.Parse(match.Groups[2].ValueSpan, CultureInfo.InvariantCulture))
            : (0, 0);
    }

    private bool MayBeReadyNow(TaskOp op) => op.Kind switch
    {
        TaskOpKind.Create or TaskOpKind.Update => op.Task.NotBefore == default || op.Task.NotBefore <= (clock ?? TimeProvider.System).GetUtcNow(),
        TaskOpKind.Move => true,
        TaskOpKind.Disown => op.OwnFor == TimeSpan.Zero,
        _ => false,
    };

    private NpgsqlBatchCommand StatementFor(TaskOp op)
    {
        var task = op.Task;
        var id = TaskSql.Parameter("id", task.Id, NpgsqlDbType.Bigint);
        return op.Kind switch
        {
            TaskOpKind.Create => Statement(sql.Create, Values(task)),
            TaskOpKind.Update => Statement(sql.Update, [id, .. Values(task)]),
            TaskOpKind.Delete => Statement(sql.Delete, id),
            TaskOpKind.Pred => Statement(sql.Pred, id),
            TaskOpKind.Move => Statement(sql.Move, id, TaskSql.Parameter("group", op.Group, NpgsqlDbType.Text), TaskSql.Parameter("error", op.Error, NpgsqlDbType.Text)),
            TaskOpKind.Disown => Statement(sql.Disown, id, TaskSql.Parameter("delay", op.OwnFor, NpgsqlDbType.Interval), TaskSql.Parameter("error", op.Error, NpgsqlDbType.Text)),
            TaskOpKind.Reown => Statement(sql.Reown, id, TaskSql.Parameter("delay", op.OwnFor, NpgsqlDbType.Interval)),
            _ => throw new ArgumentOutOfRangeException(nameof(op), op.Kind, "Unknown operation."),
        };
    }

    private static NpgsqlParameter[] Values(TaskItem task) =>
    [
        TaskSql.Parameter("group", task.Group, NpgsqlDbType.Text),
        TaskSql.Parameter("not_before", TaskSql.Time(task.NotBefore), NpgsqlDbType.TimestampTz),
        TaskSql.Parameter("attempts", task.Attempts, NpgsqlDbType.Integer),
        TaskSql.Parameter("error", task.Error, NpgsqlDbType.Text),
        TaskSql.Parameter("payload", task.Payload.ToArray(), NpgsqlDbType.Bytea),
        TaskSql.Parameter("content_type", task.ContentType, NpgsqlDbType.Text),
        TaskSql.Parameter("trace_parent", task.TraceParent, NpgsqlDbType.Text),
    ];

    private NpgsqlBatchCommand Statement(string text, params NpgsqlParameter[] parameters)
    {
        var command = new NpgsqlBatchCommand(text);
        TaskSql.AddNow(command.Parameters, clock);
        command.Parameters.AddRange(parameters);
        return command;
    }

    [GeneratedRegex(@"^Task (\d+) at lease version (\d+) ")]
    private static partial Regex FenceMessage();
}
