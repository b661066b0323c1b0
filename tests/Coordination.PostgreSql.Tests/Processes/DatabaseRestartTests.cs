namespace Coordination.Tests.Processes;

[CollectionDefinition(nameof(DatabaseRestartTests), DisableParallelization = true)]
public sealed class DatabaseRestartCollection;

/// <summary>Restarts the test server: runs alone, so no other test meets the restart.</summary>
[Collection(nameof(DatabaseRestartTests))]
public sealed class DatabaseRestartTests
{
    [Fact]
    public async Task DatabaseRestart_WhileTwoProcessesDrain_BothReconnectAndEveryTaskCompletesOnce()
    {
        const int Tasks = 2000;
        var restart = Environment.GetEnvironmentVariable("COORDINATION_TEST_POSTGRES_RESTART")
            ?? throw new InvalidOperationException("COORDINATION_TEST_POSTGRES_RESTART is not set: run the tests with eng/test.sh, which owns the server it restarts.");
        var (schema, store) = await TestQueue.CreateAsync(Tasks);
        await using var first = await ChildProcess.StartWorkerAsync(schema, "complete", concurrency: 4, leaseSeconds: 5);
        await using var second = await ChildProcess.StartWorkerAsync(schema, "complete", concurrency: 4, leaseSeconds: 5);
        await first.WaitForAsync(TestQueue.IsCompletion, 200);

        using (var pgCtl = System.Diagnostics.Process.Start("bash", [restart]))
        {
            await pgCtl.WaitForExitAsync();
            Assert.Equal(0, pgCtl.ExitCode);
        }

        // The pooled connections of this test process died with the server; so did the workers', which reconnect.
        TestDatabase.DataSource.Clear();

        // Both keep going after the restart: wait until the database has every completion.
        await WaitUntilAsync(async () => await TestQueue.CountAsync($"select count(*) from \"{schema}\".completions") == Tasks);
        Assert.Equal(default, await store.CountAsync("jobs"));
        Assert.Equal(default, await store.CountAsync("jobs.errors"));
        Assert.True(await TestQueue.CountAsync($"select count(*) from \"{schema}\".completions where pid = {first.Id}") > 0);
        Assert.True(await TestQueue.CountAsync($"select count(*) from \"{schema}\".completions where pid = {second.Id}") > 0);
    }

    /// <summary>Polls the database (another process's progress has no event to wait on) until the condition holds.</summary>
    private static async Task WaitUntilAsync(Func<Task<bool>> condition)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        using var poll = new PeriodicTimer(TimeSpan.FromMilliseconds(100));
        while (!await Retry(condition))
        {
            await poll.WaitForNextTickAsync(timeout.Token);
        }

        // The server may still be starting when the first polls run: those count as "not yet".
        static async Task<bool> Retry(Func<Task<bool>> condition)
        {
            try
            {
                return await condition();
            }
            catch (Npgsql.NpgsqlException)
            {
                return false;
            }
        }
    }
}
