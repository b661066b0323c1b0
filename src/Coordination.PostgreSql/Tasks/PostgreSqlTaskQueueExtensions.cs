using System.Text.Json.Serialization.Metadata;
using Coordination.Tasks;
using Npgsql;

namespace Coordination.PostgreSql;

/// <summary>Enqueues into a PostgreSQL task queue inside the caller's transaction (transactional enqueue, the outbox pattern).</summary>
public static class PostgreSqlTaskQueueExtensions
{
    /// <summary>Enqueues a task whose payload is <paramref name="payload"/> as JSON, inside <paramref name="transaction"/>:
    /// the task exists, and wakes the workers, only if the caller commits; a rollback leaves nothing behind.</summary>
    /// <typeparam name="T">The payload type.</typeparam>
    /// <param name="queue">A queue whose store is PostgreSQL (<c>UsePostgreSql</c>).</param>
    /// <param name="transaction">The caller's open transaction on the queue's database (with EF Core:
    /// <c>(NpgsqlTransaction)dbContext.Database.CurrentTransaction!.GetDbTransaction()</c>).</param>
    /// <param name="payload">The payload.</param>
    /// <param name="typeInfo">The JSON contract.</param>
    /// <param name="notBefore">When the task becomes ready; <see langword="default"/> for now by the database's clock.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The created task, with its id.</returns>
    /// <exception cref="InvalidOperationException">The queue's store is not PostgreSQL.</exception>
    public static async ValueTask<TaskItem> EnqueueAsync<T>(this TaskQueue queue, NpgsqlTransaction transaction, T payload, JsonTypeInfo<T> typeInfo, DateTimeOffset notBefore = default, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(queue);
        var store = queue.Store as PostgreSqlTaskStore
            ?? throw new InvalidOperationException($"Task queue '{queue.Name}' keeps its tasks in {queue.Store.GetType().Name}, not PostgreSQL: call UsePostgreSql to enqueue in a database transaction.");
        var created = await store.DoAsync(transaction, [TaskOp.Create(TaskItem.Create(queue.Group, payload, typeInfo) with { NotBefore = notBefore })], cancellationToken).ConfigureAwait(false);
        return created[0];
    }
}
