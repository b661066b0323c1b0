using Coordination.Tasks;

namespace Coordination.Tests.Tasks;

/// <summary>Passes every call to another store; tests override the calls they want to watch or break.</summary>
public abstract class DelegatingTaskStore(ITaskStore inner) : ITaskStore
{
    protected ITaskStore Inner => inner;

    public virtual ValueTask<IReadOnlyList<TaskItem>> DoAsync(IReadOnlyList<TaskOp> operations, CancellationToken cancellationToken = default) => inner.DoAsync(operations, cancellationToken);

    public virtual ValueTask<TaskItem?> QueryAsync(string group, TimeSpan ownFor, CancellationToken cancellationToken = default) => inner.QueryAsync(group, ownFor, cancellationToken);

    public virtual ValueTask<IReadOnlyList<TaskItem>> ClaimBatchAsync(string group, TimeSpan ownFor, int max, CancellationToken cancellationToken = default) => inner.ClaimBatchAsync(group, ownFor, max, cancellationToken);

    public ValueTask<TaskGroupCounts> CountAsync(string group, CancellationToken cancellationToken = default) => inner.CountAsync(group, cancellationToken);

    public ValueTask<TaskClaim?> ClaimAsync(string group, long taskId, string workerId, TimeSpan ttl, CancellationToken cancellationToken = default) => inner.ClaimAsync(group, taskId, workerId, ttl, cancellationToken);

    public ValueTask ReleaseAsync(string group, long taskId, string workerId, CancellationToken cancellationToken = default) => inner.ReleaseAsync(group, taskId, workerId, cancellationToken);

    public ValueTask<TaskClaim> ExtendAsync(string group, long taskId, string workerId, TimeSpan ttl, CancellationToken cancellationToken = default) => inner.ExtendAsync(group, taskId, workerId, ttl, cancellationToken);

    public ValueTask<IReadOnlyList<TaskItem>> FindAvailableAsync(string workerId, int limit, IReadOnlyCollection<string>? groups = null, CancellationToken cancellationToken = default) => inner.FindAvailableAsync(workerId, limit, groups, cancellationToken);
}
