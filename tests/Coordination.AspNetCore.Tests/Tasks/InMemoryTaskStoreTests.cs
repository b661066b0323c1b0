using Coordination.Tasks;

namespace Coordination.Tests.Tasks;

public sealed class InMemoryTaskStoreTests : TaskStoreConformanceTests
{
    protected override ITaskStore CreateStore(TimeProvider time) => new InMemoryTaskStore(time);

    [Fact]
    public async Task RunWithLease_ThreeFailedRenewalsInARow_CancelTheWork()
    {
        var store = new FailingRenewalStore(new InMemoryTaskStore(Time));
        await store.DoAsync(TaskOp.Create(new TaskItem { Group = "g" }));
        var claimed = (await store.QueryAsync("g", TimeSpan.FromSeconds(30)))!;
        var workCancelled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        var run = store.RunWithLeaseAsync(claimed, async (_, ct) =>
        {
            ct.Register(() => workCancelled.TrySetResult());
            await Task.Delay(Timeout.Infinite, ct);
        }, TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(30), Time);

        for (var i = 1; i <= 3; i++)
        {
            // Two transient failures are tolerated; the third in a row gives the lease up.
            Assert.False(workCancelled.Task.IsCompleted, $"the work was cancelled after {i - 1} failed renewals");
            Time.Advance(TimeSpan.FromSeconds(5));
            Assert.True(SpinWait.SpinUntil(() => store.FailedRenewals == i, TestTimeouts.Default), $"renewal {i} was not attempted");
        }

        await workCancelled.Task.DefaultTimeout();
        var error = await Assert.ThrowsAsync<LeaseLostException>(() => run).DefaultTimeout();
        Assert.Contains("3 renewals", error.Message);
    }

    /// <summary>A store whose renewals fail with a transient error.</summary>
    private sealed class FailingRenewalStore(ITaskStore inner) : DelegatingTaskStore(inner)
    {
        private int _failed;

        public int FailedRenewals => Volatile.Read(ref _failed);

        public override ValueTask<IReadOnlyList<TaskItem>> DoAsync(IReadOnlyList<TaskOp> operations, CancellationToken cancellationToken = default)
        {
            if (operations is [{ Kind: TaskOpKind.Reown }])
            {
                Interlocked.Increment(ref _failed);
                throw new TimeoutException("the database did not answer");
            }

            return Inner.DoAsync(operations, cancellationToken);
        }
    }
}
