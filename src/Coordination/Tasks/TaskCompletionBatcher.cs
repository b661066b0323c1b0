using System.Threading.Channels;

namespace Coordination.Tasks;

/// <summary>Group commit for task completions: the deletes of tasks whose handlers finished while the previous batch
/// was being written go to the store together, in one <see cref="ITaskStore.DoAsync(IReadOnlyList{TaskOp}, CancellationToken)"/>
/// call — one transaction and one commit on PostgreSQL instead of one per task.</summary>
/// <remarks>
/// <para>A batch is all or nothing, so when one of its tasks fails its fence (<see cref="LeaseLostException"/>), each of
/// them is deleted on its own: the others still complete and only that one's caller learns its lease was lost. Any
/// other failure fails every caller of the batch, as it would have failed each alone.</para>
/// <para>Nothing waits to fill a batch: a completion is written at once when no batch is in flight.</para>
/// </remarks>
internal sealed class TaskCompletionBatcher
{
    private const int MaxBatch = 256;

    private readonly ITaskStore _store;
    private readonly Channel<(TaskItem Task, TaskCompletionSource Done)> _pending =
        Channel.CreateUnbounded<(TaskItem, TaskCompletionSource)>(new UnboundedChannelOptions { SingleReader = true });

    private readonly Task _writing;

    public TaskCompletionBatcher(ITaskStore store)
    {
        _store = store;
        _writing = Task.Run(WriteAsync);
    }

    /// <summary>Deletes a task, fenced by its (Id, LeaseVersion), with whatever other completions are waiting.</summary>
    /// <exception cref="LeaseLostException">The task is gone or was claimed since.</exception>
    public Task CompleteAsync(TaskItem task)
    {
        // Continuations run on the writing loop (they only count and log), so a completion is counted before
        // CloseAsync returns: a worker's stop then reports every task it completed.
        var done = new TaskCompletionSource();
        if (!_pending.Writer.TryWrite((task, done)))
        {
            // Closed: the worker is disposed; complete this one alone.
            return _store.DoAsync(TaskOp.Delete(task)).AsTask();
        }

        return done.Task;
    }

    /// <summary>Stops taking completions once the ones already given are written.</summary>
    public Task CloseAsync()
    {
        _pending.Writer.TryComplete();
        return _writing;
    }

    private async Task WriteAsync()
    {
        var batch = new List<(TaskItem Task, TaskCompletionSource Done)>(MaxBatch);
        while (await _pending.Reader.WaitToReadAsync().ConfigureAwait(false))
        {
            while (batch.Count < MaxBatch && _pending.Reader.TryRead(out var completion))
            {
                batch.Add(completion);
            }

            try
            {
                await _store.DoAsync([.. batch.Select(c => TaskOp.Delete(c.Task))], CancellationToken.None).ConfigureAwait(false);
                batch.ForEach(c => c.Done.TrySetResult());
            }
            catch (LeaseLostException) when (batch.Count > 1)
            {
                await Task.WhenAll(batch.Select(CompleteAloneAsync)).ConfigureAwait(false);
            }
            catch (Exception exception)
            {
                batch.ForEach(c => c.Done.TrySetException(exception));
            }

            batch.Clear();
        }
    }

    private async Task CompleteAloneAsync((TaskItem Task, TaskCompletionSource Done) completion)
    {
        try
        {
            await _store.DoAsync(TaskOp.Delete(completion.Task)).ConfigureAwait(false);
            completion.Done.TrySetResult();
        }
        catch (Exception exception)
        {
            completion.Done.TrySetException(exception);
        }
    }
}
