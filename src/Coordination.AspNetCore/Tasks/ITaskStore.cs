namespace Coordination.Tasks;

/// <summary>A durable store of tasks in groups, claimed with leases and fenced by lease versions.</summary>
/// <remarks>The store's clock is the only time authority (in memory: its <see cref="TimeProvider"/>; PostgreSQL:
/// <c>now()</c>). Implementations pass the same conformance suite.</remarks>
public interface ITaskStore
{
    /// <summary>Applies operations atomically: all or none.</summary>
    /// <param name="operations">The operations; a task may appear in only one of them.</param>
    /// <returns>The task each operation produced (the created task with its id; the deleted task; the new state).</returns>
    /// <exception cref="LeaseLostException">A task named by (Id, LeaseVersion) is gone or was claimed since.</exception>
    /// <exception cref="ArgumentException">A task appears in more than one operation.</exception>
    ValueTask<IReadOnlyList<TaskItem>> DoAsync(params TaskOp[] operations);

    /// <summary>Claims the ready task of a group with the smallest (not-before, id): not-before becomes now +
    /// <paramref name="ownFor"/>, and its lease version and attempts go up. With a zero <paramref name="ownFor"/>, only peeks.</summary>
    /// <param name="group">The group.</param>
    /// <param name="ownFor">The lease length; zero to peek without claiming.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The claimed task, or <see langword="null"/> when none is ready.</returns>
    ValueTask<TaskItem?> QueryAsync(string group, TimeSpan ownFor, CancellationToken cancellationToken = default);

    /// <summary>Claims up to <paramref name="max"/> ready tasks of a group in one call, in (not-before, id) order.</summary>
    /// <param name="group">The group.</param>
    /// <param name="ownFor">The lease length.</param>
    /// <param name="max">The most tasks to claim.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The claimed tasks.</returns>
    ValueTask<IReadOnlyList<TaskItem>> ClaimBatchAsync(string group, TimeSpan ownFor, int max, CancellationToken cancellationToken = default);

    /// <summary>Counts the ready and waiting tasks of a group.</summary>
    /// <param name="group">The group.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The counts.</returns>
    ValueTask<TaskGroupCounts> CountAsync(string group, CancellationToken cancellationToken = default);
}
