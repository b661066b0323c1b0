namespace Coordination.Tasks;

/// <summary>A durable store of tasks in groups, claimed with leases and fenced by lease versions.</summary>
/// <remarks>The store's clock is the only time authority (in memory: its <see cref="TimeProvider"/>; PostgreSQL:
/// <c>now()</c>). Implementations pass the same conformance suite.</remarks>
public interface ITaskStore
{
    /// <summary>Applies operations atomically: all or none. <see cref="TaskStoreExtensions.DoAsync(ITaskStore, TaskOp[])"/>
    /// takes them as arguments.</summary>
    /// <param name="operations">The operations; a task may appear in only one of them.</param>
    /// <param name="cancellationToken">Cancels the call; once it has been sent, it may still have been applied.</param>
    /// <returns>The task each operation produced (the created task with its id; the deleted task; the new state).</returns>
    /// <exception cref="LeaseLostException">A task named by (Id, LeaseVersion) is gone or was claimed since.</exception>
    /// <exception cref="ArgumentException">A task appears in more than one operation.</exception>
    ValueTask<IReadOnlyList<TaskItem>> DoAsync(IReadOnlyList<TaskOp> operations, CancellationToken cancellationToken = default);

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

    /// <summary>Counts the ready, leased and scheduled tasks of a group.</summary>
    /// <param name="group">The group.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The counts.</returns>
    ValueTask<TaskGroupCounts> CountAsync(string group, CancellationToken cancellationToken = default);

    /// <summary>Claims one task by id for a named worker (the seed's <c>claim_task</c>): like a lease from
    /// <see cref="QueryAsync"/>, it increments the lease version and attempts, and lasts until the store's now + <paramref name="ttl"/>.</summary>
    /// <param name="group">The group the task must be in (the seed's instance id).</param>
    /// <param name="taskId">The task.</param>
    /// <param name="workerId">The claiming worker.</param>
    /// <param name="ttl">How long the claim lasts; <see cref="Timeout.InfiniteTimeSpan"/> for a claim that lasts until it is
    /// released (the seed's <c>ttl: None</c>; its <see cref="TaskClaim.ExpiresAt"/> is <see cref="DateTimeOffset.MaxValue"/>).</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The claim, or <see langword="null"/> when the task is leased (a live claim exists) or scheduled for later.</returns>
    /// <exception cref="ClaimNotFoundException">The task is gone or in another group.</exception>
    ValueTask<TaskClaim?> ClaimAsync(string group, long taskId, string workerId, TimeSpan ttl, CancellationToken cancellationToken = default);

    /// <summary>Releases a worker's claim: the task is ready again at once. Releasing a claim that ran out but was not taken over is allowed.</summary>
    /// <param name="group">The group of the task.</param>
    /// <param name="taskId">The task.</param>
    /// <param name="workerId">The worker that holds the claim.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>A task that completes when the claim is released.</returns>
    /// <exception cref="ClaimLostException">Another holder has the task now.</exception>
    /// <exception cref="ClaimNotFoundException">There is no claim by this worker.</exception>
    ValueTask ReleaseAsync(string group, long taskId, string workerId, CancellationToken cancellationToken = default);

    /// <summary>Extends a live claim to an absolute time: the store's now + <paramref name="ttl"/> (never by adding to
    /// the old expiry). A claim that ran out is not revived, even if nobody took the task over.</summary>
    /// <param name="group">The group of the task.</param>
    /// <param name="taskId">The task.</param>
    /// <param name="workerId">The worker that holds the claim.</param>
    /// <param name="ttl">How long the claim lasts from now. A claim without a TTL stays as it is.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The extended claim.</returns>
    /// <exception cref="ClaimLostException">Another holder has the task now, or the claim ran out.</exception>
    /// <exception cref="ClaimNotFoundException">There is no claim by this worker.</exception>
    ValueTask<TaskClaim> ExtendAsync(string group, long taskId, string workerId, TimeSpan ttl, CancellationToken cancellationToken = default);

    /// <summary>Lists tasks that can be claimed now, without claiming them, in (not-before, id) order; tasks whose
    /// last claim was this worker's (it gave them back or let them lapse) come last, so another worker tries them first.</summary>
    /// <param name="workerId">The asking worker.</param>
    /// <param name="limit">The most tasks to list.</param>
    /// <param name="groups">The groups to look in; <see langword="null"/> for every group.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The available tasks.</returns>
    ValueTask<IReadOnlyList<TaskItem>> FindAvailableAsync(string workerId, int limit, IReadOnlyCollection<string>? groups = null, CancellationToken cancellationToken = default);
}
