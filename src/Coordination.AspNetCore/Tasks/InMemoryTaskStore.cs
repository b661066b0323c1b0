namespace Coordination.Tasks;

/// <summary>An <see cref="ITaskStore"/> in process memory: one lock, ids from a counter that is never reset.</summary>
/// <remarks>Tasks live as long as the process. Its <see cref="TimeProvider"/> is the only clock leases are measured by.</remarks>
public sealed class InMemoryTaskStore : ITaskStore
{
    private readonly Lock _sync = new();
    private readonly Dictionary<long, TaskItem> _tasks = [];
    private readonly Dictionary<string, SortedSet<(DateTimeOffset NotBefore, long Id)>> _groups = new(StringComparer.Ordinal);
    private readonly TimeProvider _timeProvider;
    private long _lastId;

    /// <summary>Initializes an empty store.</summary>
    /// <param name="timeProvider">The store's clock; <see cref="TimeProvider.System"/> when <see langword="null"/>.</param>
    public InMemoryTaskStore(TimeProvider? timeProvider = null) => _timeProvider = timeProvider ?? TimeProvider.System;

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<TaskItem>> DoAsync(params TaskOp[] operations)
    {
        ArgumentNullException.ThrowIfNull(operations);
        var named = operations.Where(op => op.Kind != TaskOpKind.Create).Select(op => op.Task.Id).ToList();
        if (named.Count != named.Distinct().Count())
        {
            throw new ArgumentException("A task appears in more than one operation of the same call.", nameof(operations));
        }

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
                    };
                }
            }

            var now = _timeProvider.GetUtcNow();
            var results = new TaskItem[operations.Length];
            for (var i = 0; i < operations.Length; i++)
            {
                var op = operations[i];
                results[i] = op.Kind switch
                {
                    TaskOpKind.Create => Put(op.Task with { Id = ++_lastId, LeaseVersion = 0, NotBefore = op.Task.NotBefore == default ? now : op.Task.NotBefore }),
                    TaskOpKind.Delete => Remove(op.Task.Id),
                    TaskOpKind.Update => Replace(op.Task with { NotBefore = op.Task.NotBefore == default ? now : op.Task.NotBefore }),
                    TaskOpKind.Move => Replace(_tasks[op.Task.Id] with { Group = op.Group!, Error = op.Error, NotBefore = now }),
                    TaskOpKind.Reown => Replace(_tasks[op.Task.Id] with { NotBefore = now + op.OwnFor }),
                    _ => _tasks[op.Task.Id],
                };
            }

            return new ValueTask<IReadOnlyList<TaskItem>>(results);
        }
    }

    /// <inheritdoc />
    public ValueTask<TaskItem?> QueryAsync(string group, TimeSpan ownFor, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(group);
        ArgumentOutOfRangeException.ThrowIfLessThan(ownFor, TimeSpan.Zero);
        lock (_sync)
        {
            return new ValueTask<TaskItem?>(ClaimLocked(group, ownFor, _timeProvider.GetUtcNow()));
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
            while (claimed.Count < max && ClaimLocked(group, ownFor, now) is { } task)
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
            return new ValueTask<TaskGroupCounts>(new TaskGroupCounts(ready, index.Count - ready));
        }
    }

    private TaskItem? ClaimLocked(string group, TimeSpan ownFor, DateTimeOffset now)
    {
        if (!_groups.TryGetValue(group, out var index) || index.Count == 0 || index.Min.NotBefore > now)
        {
            return null;
        }

        var head = _tasks[index.Min.Id];
        return ownFor == TimeSpan.Zero
            ? head
            : Replace(head with { NotBefore = now + ownFor, LeaseVersion = head.LeaseVersion + 1, Attempts = head.Attempts + 1 });
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

    private TaskItem Remove(long id)
    {
        var task = _tasks[id];
        _tasks.Remove(id);
        _groups[task.Group].Remove((task.NotBefore, task.Id));
        return task;
    }

    private TaskItem Replace(TaskItem task)
    {
        Remove(task.Id);
        return Put(task);
    }
}
