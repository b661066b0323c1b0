using System.Collections.Concurrent;
using Coordination.PostgreSql;
using Coordination.Tasks;
using Npgsql;

namespace Coordination.Tests.Tasks;

/// <summary>What only a shared, durable store has: the database clock, transactions, cross-process wake-ups.</summary>
public sealed class PostgreSqlTaskStoreTests
{
    private static readonly TimeSpan Lease = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task TheDatabaseClockIsTheOnlyClock()
    {
        var store = new PostgreSqlTaskStore(TestDatabase.DataSource, await TestDatabase.CreateSchemaAsync());
        await store.DoAsync(TaskOp.Create(New("g")));

        var before = (DateTime)(await TestDatabase.ScalarAsync("select now()"))!;
        var claimed = (await store.QueryAsync("g", Lease))!;
        var after = (DateTime)(await TestDatabase.ScalarAsync("select now()"))!;

        Assert.InRange(claimed.NotBefore.UtcDateTime, before + Lease, after + Lease);
    }

    [Fact]
    public async Task EnqueueInTheCallersTransaction_IsVisibleOnlyAfterCommit_AndGoneOnRollback()
    {
        var store = new PostgreSqlTaskStore(TestDatabase.DataSource, await TestDatabase.CreateSchemaAsync());

        await using (var connection = await TestDatabase.DataSource.OpenConnectionAsync())
        await using (var transaction = await connection.BeginTransactionAsync())
        {
            await store.DoAsync(transaction, [TaskOp.Create(New("g"))]);
            Assert.Equal(default, await store.CountAsync("g"));
            await transaction.RollbackAsync();
        }

        Assert.Equal(default, await store.CountAsync("g"));

        await using (var connection = await TestDatabase.DataSource.OpenConnectionAsync())
        await using (var transaction = await connection.BeginTransactionAsync())
        {
            await store.DoAsync(transaction, [TaskOp.Create(New("g"))]);
            await transaction.CommitAsync();
        }

        Assert.Equal(new TaskGroupCounts(1, 0, 0), await store.CountAsync("g"));
    }

    [Fact]
    public async Task AFailedFenceInTheCallersTransaction_AbortsIt()
    {
        var store = new PostgreSqlTaskStore(TestDatabase.DataSource, await TestDatabase.CreateSchemaAsync());
        var task = (await store.DoAsync(TaskOp.Create(New("g"))))[0];

        await using var connection = await TestDatabase.DataSource.OpenConnectionAsync();
        await using var transaction = await connection.BeginTransactionAsync();
        await store.DoAsync(transaction, [TaskOp.Create(New("h"))]);
        var error = await Assert.ThrowsAsync<LeaseLostException>(() => store.DoAsync(transaction, [TaskOp.Delete(task with { LeaseVersion = 3 })]).AsTask());
        await transaction.RollbackAsync();

        Assert.Equal((task.Id, 3L), (error.TaskId, error.LeaseVersion));
        Assert.Equal(default, await store.CountAsync("h"));
        Assert.Equal(1, (await store.CountAsync("g")).Total);
    }

    [Fact]
    public async Task Notifications_WakeSubscribersOfAnotherProcessesStore_OnlyWhenTheWriteCommits()
    {
        var schema = await TestDatabase.CreateSchemaAsync();
        await using var listening = new PostgreSqlTaskStore(TestDatabase.DataSource, schema);
        await using var otherProcess = NpgsqlDataSource.Create(TestDatabase.ConnectionString);
        var writer = new PostgreSqlTaskStore(otherProcess, schema);
        var woken = new ConcurrentQueue<string>();
        var connected = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var marker = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var onG = listening.Subscribe("g", () =>
        {
            woken.Enqueue("g");
            connected.TrySetResult();
        });
        using var onMarker = listening.Subscribe("marker", () => marker.TrySetResult());

        // The listener wakes every subscriber once when it connects (it may have missed notifications before).
        await connected.Task.DefaultTimeout();
        woken.Clear();
        marker = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        await using (var connection = await TestDatabase.DataSource.OpenConnectionAsync())
        await using (var transaction = await connection.BeginTransactionAsync())
        {
            await writer.DoAsync(transaction, [TaskOp.Create(New("g"))]);
            await transaction.RollbackAsync();
        }

        // Notifications arrive in commit order: once the marker's has come, a committed "g" would have come first.
        await writer.DoAsync(TaskOp.Create(New("marker")));
        await marker.Task.DefaultTimeout();
        Assert.Empty(woken);

        await writer.DoAsync(TaskOp.Create(New("g")));
        marker = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await writer.DoAsync(TaskOp.Create(New("marker")));
        await marker.Task.DefaultTimeout();
        Assert.Equal(["g"], woken);
    }

    [Fact]
    public async Task RacingClaimers_NeverTakeTheSameTask()
    {
        const int Tasks = 400;
        var store = new PostgreSqlTaskStore(TestDatabase.DataSource, await TestDatabase.CreateSchemaAsync());
        await store.DoAsync([.. Enumerable.Range(0, Tasks).Select(_ => TaskOp.Create(New("g")))]);
        var claimed = new ConcurrentBag<long>();

        await Parallel.ForAsync(0, 8, async (_, ct) =>
        {
            while (await store.ClaimBatchAsync("g", Lease, 7, ct) is { Count: > 0 } batch)
            {
                foreach (var task in batch)
                {
                    claimed.Add(task.Id);
                }
            }
        });

        Assert.Equal(Tasks, claimed.Count);
        Assert.Equal(Tasks, claimed.Distinct().Count());
        Assert.Equal(new TaskGroupCounts(0, Tasks, 0), await store.CountAsync("g"));
    }

    [Fact]
    public async Task TheDatabaseDown_EnqueueFailsWithAClearException()
    {
        await using var unreachable = NpgsqlDataSource.Create("Host=127.0.0.1;Port=1;Username=nobody;Timeout=2");
        var store = new PostgreSqlTaskStore(unreachable);

        var error = await Assert.ThrowsAsync<NpgsqlException>(() => store.DoAsync(TaskOp.Create(New("g"))).AsTask());

        Assert.Contains("127.0.0.1:1", error.Message);
    }

    private static TaskItem New(string group) => new() { Group = group, Payload = "{}"u8.ToArray(), ContentType = "application/json" };
}
