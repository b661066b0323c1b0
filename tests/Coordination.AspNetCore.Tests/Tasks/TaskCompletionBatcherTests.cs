using System.Collections.Concurrent;
using Coordination.Tasks;

namespace Coordination.Tests.Tasks;

public sealed class TaskCompletionBatcherTests
{
    [Fact]
    public async Task CompletionsWhileABatchIsWritten_GoToTheStoreTogether()
    {
        var store = new GatedStore(new InMemoryTaskStore());
        var tasks = await ClaimAsync(store, 6);
        var batcher = new TaskCompletionBatcher(store);

        var first = batcher.CompleteAsync(tasks[0]);
        await store.FirstCallHeld.Task.DefaultTimeout();
        var rest = tasks.Skip(1).Select(batcher.CompleteAsync).ToList();
        store.Release();
        await Task.WhenAll([first, .. rest]).DefaultTimeout();
        await batcher.CloseAsync().DefaultTimeout();

        Assert.Equal([1, 5], store.DeletesPerCall);
        Assert.Equal(default, await store.CountAsync("g"));
    }

    [Fact]
    public async Task AStaleTaskInABatch_FailsAlone_TheOthersComplete()
    {
        var store = new GatedStore(new InMemoryTaskStore());
        var tasks = await ClaimAsync(store, 4);
        var batcher = new TaskCompletionBatcher(store);

        var first = batcher.CompleteAsync(tasks[0]);
        await store.FirstCallHeld.Task.DefaultTimeout();
        var valid = batcher.CompleteAsync(tasks[1]);
        var stale = batcher.CompleteAsync(tasks[2] with { LeaseVersion = 7 });
        var alsoValid = batcher.CompleteAsync(tasks[3]);
        store.Release();

        await Task.WhenAll(first, valid, alsoValid).DefaultTimeout();
        var error = await Assert.ThrowsAsync<LeaseLostException>(() => stale).DefaultTimeout();
        Assert.Equal(tasks[2].Id, error.TaskId);
        Assert.Equal(1, (await store.CountAsync("g")).Total);
    }

    [Fact]
    public async Task AStoreFailure_FailsEveryCallerOfTheBatch()
    {
        var store = new GatedStore(new InMemoryTaskStore()) { FailAfterFirstCall = new TimeoutException("the database did not answer") };
        var tasks = await ClaimAsync(store, 3);
        var batcher = new TaskCompletionBatcher(store);

        var first = batcher.CompleteAsync(tasks[0]);
        await store.FirstCallHeld.Task.DefaultTimeout();
        var failing = tasks.Skip(1).Select(batcher.CompleteAsync).ToList();
        store.Release();

        await first.DefaultTimeout();
        foreach (var completion in failing)
        {
            await Assert.ThrowsAsync<TimeoutException>(() => completion).DefaultTimeout();
        }

        Assert.Equal(2, (await store.CountAsync("g")).Total);
    }

    private static async Task<IReadOnlyList<TaskItem>> ClaimAsync(ITaskStore store, int count)
    {
        await store.DoAsync([.. Enumerable.Range(0, count).Select(_ => TaskOp.Create(new TaskItem { Group = "g" }))]);
        return await store.ClaimBatchAsync("g", TimeSpan.FromMinutes(1), count);
    }

    /// <summary>Holds the first delete call until released, and records how many deletes each call carried.</summary>
    private sealed class GatedStore(ITaskStore inner) : DelegatingTaskStore(inner)
    {
        private readonly TaskCompletionSource _release = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly ConcurrentQueue<int> _deletesPerCall = new();
        private int _calls;

        public TaskCompletionSource FirstCallHeld { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Exception? FailAfterFirstCall { get; init; }

        public IReadOnlyList<int> DeletesPerCall => [.. _deletesPerCall];

        public void Release() => _release.TrySetResult();

        public override async ValueTask<IReadOnlyList<TaskItem>> DoAsync(IReadOnlyList<TaskOp> operations, CancellationToken cancellationToken = default)
        {
            if (operations.All(o => o.Kind == TaskOpKind.Delete))
            {
                _deletesPerCall.Enqueue(operations.Count);
                if (Interlocked.Increment(ref _calls) == 1)
                {
                    FirstCallHeld.TrySetResult();
                    await _release.Task;
                }
                else if (FailAfterFirstCall is { } failure)
                {
                    throw failure;
                }
            }

            return await Inner.DoAsync(operations, cancellationToken);
        }
    }
}
