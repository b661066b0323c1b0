using Coordination.PostgreSql;
using Coordination.Tasks;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace Coordination.TestWorker;

internal sealed record WorkerSettings(string Schema, string Mode);

/// <summary>Records a completion in the same transaction that deletes the task, fenced by its lease version: the task
/// is completed, and recorded, exactly once, whatever process runs it and however often.</summary>
internal sealed class RecordingHandler(WorkerSettings settings, NpgsqlDataSource dataSource, [FromKeyedServices("jobs")] TaskQueue queue) : ITaskHandler
{
    public static TaskCompletionSource Go { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public async Task HandleAsync(TaskItem task, CancellationToken cancellationToken)
    {
        Output.Line($"started {task.Id}");
        switch (settings.Mode)
        {
            case "block":
                await Task.Delay(Timeout.Infinite, cancellationToken);
                break;
            case "go":
                await Go.Task;
                break;
        }

        var store = (PostgreSqlTaskStore)queue.Store;
        await using var connection = await dataSource.OpenConnectionAsync(CancellationToken.None);
        await using var transaction = await connection.BeginTransactionAsync(CancellationToken.None);
        try
        {
            await store.DoAsync(transaction, [TaskOp.Delete(task)], CancellationToken.None);
        }
        catch (LeaseLostException)
        {
            Output.Line($"lease-lost {task.Id}");
            throw;
        }

        await using (var record = new NpgsqlCommand($"insert into \"{settings.Schema}\".completions (task_id, pid) values (@id, @pid)", connection, transaction))
        {
            record.Parameters.AddWithValue("id", task.Id);
            record.Parameters.AddWithValue("pid", Environment.ProcessId);
            await record.ExecuteNonQueryAsync(CancellationToken.None);
        }

        await transaction.CommitAsync(CancellationToken.None);
        Output.Line($"completed {task.Id}");
    }
}

internal static class Output
{
    private static readonly Lock Sync = new();

    public static void Line(string line)
    {
        lock (Sync)
        {
            Console.Out.WriteLine(line);
            Console.Out.Flush();
        }
    }
}
