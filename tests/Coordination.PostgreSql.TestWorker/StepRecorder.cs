using Coordination.Ingestion;
using Npgsql;

namespace Coordination.TestWorker;

/// <summary>An ordered-ingestion event of the process tests: <see cref="Script"/> "retry" fails the first attempt.</summary>
internal sealed record StepEvent(string Key, int N, string Script);

/// <summary>Records every successful handling (key, event id, sequence, process, attempt) in <c>{schema}.handled</c>,
/// in handling order, and prints "failed 12" / "handled 12".</summary>
internal sealed class StepRecorder(WorkerSettings settings, NpgsqlDataSource dataSource) : IEventHandler<StepEvent>
{
    public async Task HandleAsync(StepEvent ingested, EventContext context, CancellationToken cancellationToken)
    {
        if (ingested.Script == "retry" && context.Attempt == 1)
        {
            Output.Line($"failed {context.Id}");
            throw new InvalidOperationException($"Scripted failure of event {context.Id}.");
        }

        await using var record = dataSource.CreateCommand($"insert into \"{settings.Schema}\".handled (key, event_id, n, pid, attempt) values (@key, @id, @n, @pid, @attempt)");
        record.Parameters.AddWithValue("key", context.Key);
        record.Parameters.AddWithValue("id", context.Id);
        record.Parameters.AddWithValue("n", ingested.N);
        record.Parameters.AddWithValue("pid", Environment.ProcessId);
        record.Parameters.AddWithValue("attempt", context.Attempt);
        await record.ExecuteNonQueryAsync(CancellationToken.None);
        Output.Line($"handled {context.Id}");
    }
}
