namespace Coordination.Tasks;

/// <summary>An <see cref="ITaskStore"/> in process memory: one lock, ids from a counter that is never reset.</summary>
/// <remarks>Tasks live as long as the process. Its <see cref="TimeProvider"/> is the only clock leases are measured by.</remarks>
public sealed class InMemoryTaskStore : ITaskStore, ITaskReadyNotifier
{
    private readonly Lock _sync = new();
    private readonly Dictionary<long, TaskItem> _tasks = [];
    private readonly Dictionary<string, SortedSet<(DateTimeOffset NotBefore, long Id)>> _groups = new(StringComparer.Ordinal);

    // The last named claim of each task; it is live while the task is still leased at the claim's version.
    private readonly Dictionary<long, (string WorkerId, long LeaseVersion, DateTimeOffset ClaimedAt)> _claims = [];
    private readonly TaskReadySubscriptions _subscriptions = new();
    private readonly TimeProvider _timeProvider;
    private long _lastId;

    /// <summary>Initializes an empty store.</summary>
    /// <param name="timeProvider">The store's clock; <see cref="TimeProvider.System"/> when <see langword="null"/>.</param>
    public InMemoryTaskStore(TimeProvider? timeProvider = null) => _timeProvider = timeProvider ?? TimeProvider.System;

    /// <inheritdoc />
    /// <remarks>Callbacks run outside the store's lock when a task became ready at once (created, updated, moved,
    /// disowned or released), so idle workers in this process wake without polling.</remarks>
    public IDisposable Subscribe(string group, Action onReady) => _subscriptions.Subscribe(group, onReady);

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<TaskItem>> DoAsync(IReadOnlyList<TaskOp> operations, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(operations);
        cancellationToken.ThrowIfCancellationRequested();
        var named = operations.Where(op => op.Kind != TaskOpKind.Create).Select(op => op.Task.Id).ToList();
        if (named.Count != named.Distinct().Count())
        {
            throw new ArgumentException("A task appears in more than one operation of the same call.", nameof(operations));
        }

        // The store keeps its own copy, as a database would: a caller may reuse its buffer (ArrayPool,
        // ArrayBufferWriter) as soon as the call returns. Copied before taking the lock.
        var payloads = operations.Select(op => op.Kind is TaskOpKind.Create or TaskOpKind.Update ? op.Task.Payload.ToArray() : default(ReadOnlyMemory<byte>)).ToArray();
        var results = new TaskItem[operations.Count];
        lock (_sync)
        {
            // Check every fence first, so that a failing call changes nothing.
            foreach (var op in operations.Where(op => op.Kind != TaskOpKind.Create))
            {
                if (!_tasks.TryGetValue(op.Task.Id, out var current) || current.LeaseVersion != op.Task.LeaseVersion)
                {
                    throw new LeaseLostException(
                        $"Task {op.Task.Id} at lease version {op.Task.LeaseVersion} is {(current is null ? "gone" : $"at lease version {current.LeaseVersion}")}; nothing was changed.")
                    {
                        TaskId = op.Task.Id,
                        LeaseVersion = op.Task.LeaseVersion,
                        TaskGone = current is null,
                    };
                }
            }

            var now = _timeProvider.GetUtcNow();
            for (var i = 0; i < operations.Count; i++)
            {
                var op = operations[i];
                results[i] = op.Kind switch
                {
                    TaskOpKind.Create => Put(Schedule(op.Task with { Id = ++_lastId, LeaseVersion = 0, Payload = payloads[i] }, op.Task.NotBefore, now)),
                    TaskOpKind.Delete => Complete(op.Task.Id),
                    TaskOpKind.Update => Replace(Schedule(op.Task with { Payload = payloads[i] }, op.Task.NotBefore, now)),
                    TaskOpKind.Move => Replace(Schedule(_tasks[op.Task.Id] with { Group = op.Group!, Error = op.Error }, now, now)),
                    TaskOpKind.Disown => Replace(Schedule(_tasks[op.Task.Id] with { Error = op.Error ?? _tasks[op.Task.Id].Error }, now + op.OwnFor, now)),
                    TaskOpKind.Reown => Replace(_tasks[op.Task.Id] with { NotBefore = now + op.OwnFor }),
                    _ => _tasks[op.Task.Id],
                };
            }
        }

        NotifyReady(operations.Select((op, i) => op.Kind is TaskOpKind.Delete or TaskOpKind.Reown or TaskOpKind.Pred ? null : results[i]));
        return new ValueTask<IReadOnlyList<TaskItem>>(results);
    }

    /// <inheritdoc />
    public ValueTask<TaskItem?> QueryAsync(string group, TimeSpan ownFor, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(group);
        ArgumentOutOfRangeException.ThrowIfLessThan(ownFor, TimeSpan.Zero);
        lock (_sync)
        {
            return new ValueTask<TaskItem?>(ClaimHeadLocked(group, ownFor, _timeProvider.GetUtcNow()));
        }
    }

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<TaskItem>> ClaimBatchAsync(string group, TimeSpan ownFor, int max, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(group);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(ownFor, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThan(max, 1);
        lock (_sync)
        {
            var now = _timeProvider.GetUtcNow();
            var claimed = new List<TaskItem>();
            while (claimed.Count < max && ClaimHeadLocked(group, ownFor, now) is { } task)
            {
                claimed.Add(task);
            }

            return new ValueTask<IReadOnlyList<TaskItem>>(claimed);
        }
    }

    /// <inheritdoc />
    public ValueTask<TaskGroupCounts> CountAsync(string group, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(group);
        lock (_sync)
        {
            if (!_groups.TryGetValue(group, out var index))
            {
                return new ValueTask<TaskGroupCounts>(default(TaskGroupCounts));
            }

            var now = _timeProvider.GetUtcNow();
            var ready = index.Count(entry => entry.NotBefore <= now);
            var leased = index.Count(entry => IsLeased(_tasks[entry.Id], now));
            return new ValueTask<TaskGroupCounts>(new TaskGroupCounts(ready, leased, index.Count - ready - leased));
        }
    }

    /// <inheritdoc />
    public ValueTask<TaskClaim?> ClaimAsync(string group, long taskId, string workerId, TimeSpan ttl, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(group);
        ArgumentException.ThrowIfNullOrEmpty(workerId);
        TaskClaim.ThrowIfInvalidTtl(ttl);
        lock (_sync)
        {
            var task = FindLocked(group, taskId, workerId);
            var now = _timeProvider.GetUtcNow();
            if (task.NotBefore > now)
            {
                return new ValueTask<TaskClaim?>((TaskClaim?)null);
            }

            var claimed = Lease(task, ttl, now);
            _claims[taskId] = (workerId, claimed.LeaseVersion, now);
            return new ValueTask<TaskClaim?>(new TaskClaim(claimed, workerId, now, claimed.NotBefore));
        }
    }

    /// <inheritdoc />
    public ValueTask ReleaseAsync(string group, long taskId, string workerId, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(group);
        ArgumentException.ThrowIfNullOrEmpty(workerId);
        lock (_sync)
        {
            var now = _timeProvider.GetUtcNow();
            var (task, _) = OwnClaimLocked(group, taskId, workerId, now);
            Replace(Schedule(task, now, now));
        }

        _subscriptions.Notify(group);
        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    public ValueTask<TaskClaim> ExtendAsync(string group, long taskId, string workerId, TimeSpan ttl, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(group);
        ArgumentException.ThrowIfNullOrEmpty(workerId);
        TaskClaim.ThrowIfInvalidTtl(ttl);
        lock (_sync)
        {
            var now = _timeProvider.GetUtcNow();
            var (task, claimedAt) = OwnClaimLocked(group, taskId, workerId, now);
            if (!IsLeased(task, now))
            {
                throw new ClaimLostException($"Task {taskId}: the claim of worker '{workerId}' ran out at {task.NotBefore:O}; it is not revived.") { TaskId = taskId, WorkerId = workerId };
            }

            var extended = task.NotBefore == DateTimeOffset.MaxValue ? task : Replace(task with { NotBefore = TaskClaim.Expiry(now, ttl) });
            return new ValueTask<TaskClaim>(new TaskClaim(extended, workerId, claimedAt, extended.NotBefore));
        }
    }

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<TaskItem>> FindAvailableAsync(string workerId, int limit, IReadOnlyCollection<string>? groups = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(workerId);
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        lock (_sync)
        {
            var now = _timeProvider.GetUtcNow();
            var candidates = new List<(bool TriedHere, TaskItem Task)>();
            foreach (var (group, index) in _groups)
            {
                if (groups is not null && !groups.Contains(group))
                {
                    continue;
                }

                // Enough of each kind to fill the answer whatever the mix: `limit` fresh ones and `limit` tried here.
                int fresh = 0, triedHere = 0;
                foreach (var entry in index.TakeWhile(entry => entry.NotBefore <= now))
                {
                    var tried = _claims.TryGetValue(entry.Id, out var claim) && claim.WorkerId == workerId;
                    if ((tried ? ++triedHere : ++fresh) <= limit)
                    {
                        candidates.Add((tried, _tasks[entry.Id]));
                    }

                    if (fresh >= limit && triedHere >= limit)
                    {
                        break;
                    }
                }
            }

            IReadOnlyList<TaskItem> available = [.. candidates.OrderBy(c => c.TriedHere).ThenBy(c => c.Task.NotBefore).ThenBy(c => c.Task.Id).Take(limit).Select(c => c.Task)];
            return new ValueTask<IReadOnlyList<TaskItem>>(available);
        }
    }

    private static bool IsLeased(TaskItem task, DateTimeOffset now) => task.NotBefore > now && task.NotBefore != task.ReadyAt;

    private static TaskItem Schedule(TaskItem task, DateTimeOffset readyAt, DateTimeOffset now)
    {
        var at = readyAt == default ? now : readyAt;
        return task with { NotBefore = at, ReadyAt = at };
    }

    private TaskItem FindLocked(string group, long taskId, string workerId) =>
        _tasks.TryGetValue(taskId, out var task) && task.Group == group
            ? task
            : throw new ClaimNotFoundException($"Task {taskId} is not in group '{group}'.") { TaskId = taskId, WorkerId = workerId };

    /// <summary>Finds the worker's own claim: live, or lapsed but not taken over since.</summary>
    private (TaskItem Task, DateTimeOffset ClaimedAt) OwnClaimLocked(string group, long taskId, string workerId, DateTimeOffset now)
    {
        var task = FindLocked(group, taskId, workerId);
        var current = _claims.TryGetValue(taskId, out var claim) && claim.LeaseVersion == task.LeaseVersion;
        if (current && claim.WorkerId == workerId)
        {
            return (task, claim.ClaimedAt);
        }

        if (IsLeased(task, now) || (claim.WorkerId == workerId && !current))
        {
            throw new ClaimLostException($"Task {taskId}: worker '{workerId}' does not hold it any more; {(IsLeased(task, now) ? "another holder has it" : "it was taken over since")}.") { TaskId = taskId, WorkerId = workerId };
        }

        throw new ClaimNotFoundException($"Task {taskId} has no claim by worker '{workerId}'.") { TaskId = taskId, WorkerId = workerId };
    }

    private TaskItem? ClaimHeadLocked(string group, TimeSpan ownFor, DateTimeOffset now)
    {
        if (!_groups.TryGetValue(group, out var index) || index.Count == 0 || index.Min.NotBefore > now)
        {
            return null;
        }

        var head = _tasks[index.Min.Id];
        return ownFor == TimeSpan.Zero ? head : Lease(head, ownFor, now);
    }

    private TaskItem Lease(TaskItem task, TimeSpan ownFor, DateTimeOffset now) =>
        Replace(task with { NotBefore = TaskClaim.Expiry(now, ownFor), LeaseVersion = task.LeaseVersion + 1, Attempts = task.Attempts + 1 });

    private void NotifyReady(IEnumerable<TaskItem?> changed)
    {
        var now = _timeProvider.GetUtcNow();
        foreach (var group in changed.Where(task => task is not null && task.NotBefore <= now).Select(task => task!.Group).Distinct())
        {
            _subscriptions.Notify(group);
        }
    }

    private TaskItem Put(TaskItem task)
    {
        _tasks[task.Id] = task;
        if (!_groups.TryGetValue(task.Group, out var index))
        {
            _groups[task.Group] = index = [];
        }

        index.Add((task.NotBefore, task.Id));
        return task;
    }

    private TaskItem Complete(long id)
    {
        _claims.Remove(id);
        return Remove(id, dropEmptyGroup: true);
    }

    private TaskItem Remove(long id, bool dropEmptyGroup = false)
    {
        var task = _tasks[id];
        _tasks.Remove(id);
        var index = _groups[task.Group];
        index.Remove((task.NotBefore, task.Id));

        // Groups come and go (per tenant, say): one is forgotten when its last task completes or leaves.
        if (dropEmptyGroup && index.Count == 0)
        {
            _groups.Remove(task.Group);
        }

        return task;
    }

    private TaskItem Replace(TaskItem task)
    {
        Remove(task.Id, dropEmptyGroup: task.Group != _tasks[task.Id].Group);
        return Put(task);
    }
}
