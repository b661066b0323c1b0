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

    [Fact]
    public async Task DatabaseRestart_WhileTwoProcessesIngest_NothingAcceptedIsLost_EachKeyInIdOrder()
    {
        var restart = Environment.GetEnvironmentVariable("COORDINATION_TEST_POSTGRES_RESTART")
            ?? throw new InvalidOperationException("COORDINATION_TEST_POSTGRES_RESTART is not set: run the tests with eng/test.sh, which owns the server it restarts.");
        var (schema, log) = await IngestionCrashTests.CreateAsync();
        await using var first = await ChildProcess.StartIngestionWorkerAsync(schema, workers: 8, leaseSeconds: 2, retryMilliseconds: 100);
        await using var second = await ChildProcess.StartIngestionWorkerAsync(schema, workers: 8, leaseSeconds: 2, retryMilliseconds: 100);
        var appended = new List<long>();
        for (var n = 0; n < 50; n++)
        {
            appended.AddRange(await IngestionCrashTests.AppendAsync(log, [.. Enumerable.Range(0, 10).Select(key => ($"k{key}", n, n % 7 == 3 ? "retry" : "ok"))]));
        }

        await WaitUntilAsync(async () => await IngestionCrashTests.CountAsync($"select count(*) from \"{schema}\".handled") >= 100);
        using (var pgCtl = System.Diagnostics.Process.Start("bash", [restart]))
        {
            await pgCtl.WaitForExitAsync();
            Assert.Equal(0, pgCtl.ExitCode);
        }

        TestDatabase.DataSource.Clear();
        for (var n = 50; n < 60; n++)
        {
            appended.AddRange(await IngestionCrashTests.AppendAsync(log, [.. Enumerable.Range(0, 10).Select(key => ($"k{key}", n, "ok"))]));
        }

        await WaitUntilAsync(async () => await IngestionCrashTests.CountAsync($"select count(distinct event_id) from \"{schema}\".handled") == appended.Count);
        var handled = await IngestionCrashTests.HandledAsync(schema);
        Assert.Equal(appended.Order(), handled.Select(h => h.Id).Distinct().Order());
        IngestionCrashTests.AssertEachKeyInIdOrder(handled);
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
