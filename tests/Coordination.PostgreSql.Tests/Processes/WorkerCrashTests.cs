using Coordination.PostgreSql;
using Coordination.Tasks;

namespace Coordination.Tests.Processes;

/// <summary>Real worker processes on one database, killed, paused and restarted: nothing lost, nothing completed twice.</summary>
public sealed class WorkerCrashTests
{
    [Fact]
    public async Task KilledWorker_HoldingTasks_AnotherProcessCompletesEveryOneExactlyOnce_SoonAfterTheLeasesLapse()
    {
        const int Tasks = 24;
        const int LeaseSeconds = 3;
        var (schema, store) = await TestQueue.CreateAsync(Tasks);
        await using var doomed = await ChildProcess.StartWorkerAsync(schema, "block", concurrency: Tasks, leaseSeconds: LeaseSeconds);
        await doomed.WaitForAsync(TestQueue.IsStart, Tasks);
        Assert.Equal(new TaskGroupCounts(0, Tasks, 0), await store.CountAsync("jobs"));

        // The survivor runs already (and polls every 200 ms) when the holder is killed with its handlers blocked.
        await using var survivor = await ChildProcess.StartWorkerAsync(schema, "complete", concurrency: 8, leaseSeconds: LeaseSeconds);
        var killed = System.Diagnostics.Stopwatch.StartNew();
        await doomed.KillAsync();
        await survivor.WaitForAsync(TestQueue.IsCompletion, Tasks);
        var recovered = killed.Elapsed;

        Assert.Equal(Tasks, await TestQueue.CountAsync($"select count(distinct task_id) from \"{schema}\".completions where pid = {survivor.Id}"));
        Assert.Equal(Tasks, await TestQueue.CountAsync($"select count(*) from \"{schema}\".completions"));
        Assert.Equal(default, await store.CountAsync("jobs"));

        // Lease + poll interval is the bound; the margin is for a loaded 2-core machine, not for the design.
        Assert.True(recovered < TimeSpan.FromSeconds(LeaseSeconds + 0.2 + 10), $"the survivor needed {recovered} after the kill");
    }

    [Fact]
    public async Task PausedWorker_PastItsLease_ItsCompletionIsRejectedAndChangesNothing()
    {
        var (schema, store) = await TestQueue.CreateAsync(1);
        await using var paused = await ChildProcess.StartWorkerAsync(schema, "go", concurrency: 1, leaseSeconds: 2);
        await paused.WaitForAsync(TestQueue.IsStart, 1);
        await paused.PauseAsync();

        // While it is stopped its lease runs out; another process takes the task over and completes it.
        await using (var other = await ChildProcess.StartWorkerAsync(schema, "complete", concurrency: 1, leaseSeconds: 2))
        {
            await other.WaitForAsync(TestQueue.IsCompletion, 1);
        }

        await paused.ResumeAsync();
        paused.SendLine("go");
        await paused.WaitForAsync(line => line.StartsWith("lease-lost ", StringComparison.Ordinal), 1);

        Assert.DoesNotContain(paused.Seen, TestQueue.IsCompletion);
        Assert.Equal(1, await TestQueue.CountAsync($"select count(*) from \"{schema}\".completions"));
        Assert.Equal(0, await TestQueue.CountAsync($"select count(*) from \"{schema}\".completions where pid = {paused.Id}"));
        Assert.Equal(default, await store.CountAsync("jobs"));
    }
}
