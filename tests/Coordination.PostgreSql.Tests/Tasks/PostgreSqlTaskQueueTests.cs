using System.Collections.Concurrent;
using System.Text.Json.Serialization;
using Coordination.AspNetCore;
using Coordination.PostgreSql;
using Coordination.Tasks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Coordination.Tests.Tasks;

/// <summary>Hosted workers on PostgreSQL in this process: the same application code as in memory.</summary>
public sealed class PostgreSqlTaskQueueTests
{
    [Fact]
    public async Task Workers_RunEveryEnqueuedTask_AndTheTableEndsEmpty()
    {
        const int Tasks = 50;
        var handled = new ConcurrentDictionary<long, int>();
        var all = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var host = await StartAsync(task =>
        {
            handled.AddOrUpdate(task.Id, 1, (_, n) => n + 1);
            if (handled.Count == Tasks)
            {
                all.TrySetResult();
            }
        });
        var queue = host.Services.GetRequiredKeyedService<TaskQueue>("jobs");

        await Parallel.ForAsync(0, Tasks, async (i, ct) => await queue.EnqueueAsync($"task {i}", QueueJson.Default.String, cancellationToken: ct));
        await all.Task.DefaultTimeout();
        await host.StopAsync();

        Assert.All(handled.Values, runs => Assert.Equal(1, runs));
        Assert.Equal(default, await queue.Store.CountAsync("jobs"));
    }

    [Fact]
    public async Task EnqueueInTheCallersTransaction_RunsOnlyAfterCommit()
    {
        var ran = new TaskCompletionSource<string?>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var host = await StartAsync(task => ran.TrySetResult(task.ReadPayload(QueueJson.Default.String)));
        var queue = host.Services.GetRequiredKeyedService<TaskQueue>("jobs");

        await using (var connection = await TestDatabase.DataSource.OpenConnectionAsync())
        await using (var transaction = await connection.BeginTransactionAsync())
        {
            await queue.EnqueueAsync(transaction, "rolled back", QueueJson.Default.String);
            await transaction.RollbackAsync();
        }

        await using (var connection = await TestDatabase.DataSource.OpenConnectionAsync())
        await using (var transaction = await connection.BeginTransactionAsync())
        {
            await queue.EnqueueAsync(transaction, "committed", QueueJson.Default.String);
            await transaction.CommitAsync();
        }

        // Only the committed task ever exists, so it is the first (and only) one to run.
        Assert.Equal("committed", await ran.Task.DefaultTimeout());
    }

    [Fact]
    public async Task EnqueueInATransaction_OnAnInMemoryQueue_SaysWhatIsMissing()
    {
        var services = new ServiceCollection();
        services.AddKeyedCoordination(coord => coord.AddTaskQueue("jobs"));
        await using var provider = services.BuildServiceProvider();
        var queue = provider.GetRequiredKeyedService<TaskQueue>("jobs");
        await using var connection = await TestDatabase.DataSource.OpenConnectionAsync();
        await using var transaction = await connection.BeginTransactionAsync();

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => queue.EnqueueAsync(transaction, "x", QueueJson.Default.String).AsTask());

        Assert.Contains("UsePostgreSql", error.Message);
    }

    private static async Task<IHost> StartAsync(Action<TaskItem> handle)
    {
        var schema = TestDatabase.NewSchemaName();
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddSingleton(new RecordingHandler(handle));
        builder.Services.AddKeyedCoordination(coord =>
        {
            coord.UsePostgreSql(TestDatabase.DataSource, o => o.Schema = schema);
            coord.AddTaskQueue("jobs").AddWorker<RecordingHandler>(o => o.Concurrency = 4);
        });
        var host = builder.Build();
        await host.StartAsync();
        return host;
    }

    private sealed class RecordingHandler(Action<TaskItem> handle) : ITaskHandler
    {
        public Task HandleAsync(TaskItem task, CancellationToken cancellationToken)
        {
            handle(task);
            return Task.CompletedTask;
        }
    }
}

[JsonSerializable(typeof(string))]
internal sealed partial class QueueJson : JsonSerializerContext;
