namespace Coordination.Tasks;

/// <summary>One operation of an atomic <see cref="ITaskStore.DoAsync"/> call.</summary>
/// <remarks>Every operation but <see cref="Create"/> names a task by (Id, LeaseVersion): if the task is gone or was
/// claimed since, the whole call fails with <see cref="LeaseLostException"/> and changes nothing.</remarks>
public sealed class TaskOp
{
    private TaskOp(TaskOpKind kind, TaskItem task, string? group = null, string? error = null, TimeSpan ownFor = default)
    {
        ArgumentNullException.ThrowIfNull(task);
        Kind = kind;
        Task = task;
        Group = group;
        Error = error;
        OwnFor = ownFor;
    }

    internal TaskOpKind Kind { get; }

    internal TaskItem Task { get; }

    internal string? Group { get; }

    internal string? Error { get; }

    internal TimeSpan OwnFor { get; }

    /// <summary>Creates a task; the store assigns its id (never reused). A default <see cref="TaskItem.NotBefore"/> means now.</summary>
    /// <param name="task">The task.</param>
    /// <returns>The operation.</returns>
    public static TaskOp Create(TaskItem task)
    {
        ArgumentNullException.ThrowIfNull(task);
        ArgumentException.ThrowIfNullOrEmpty(task.Group);
        return new(TaskOpKind.Create, task);
    }

    /// <summary>Deletes a task (completes it), fenced by its (Id, LeaseVersion).</summary>
    /// <param name="task">The task as its holder knows it.</param>
    /// <returns>The operation.</returns>
    public static TaskOp Delete(TaskItem task) => new(TaskOpKind.Delete, task);

    /// <summary>Replaces a task's group, not-before, attempts, error and payload, fenced by its (Id, LeaseVersion); id and version stay.</summary>
    /// <param name="task">The task with its new values.</param>
    /// <returns>The operation.</returns>
    public static TaskOp Update(TaskItem task) => new(TaskOpKind.Update, task);

    /// <summary>Moves a task to another group (an error group, say), ready at once, fenced by its (Id, LeaseVersion).</summary>
    /// <param name="task">The task as its holder knows it.</param>
    /// <param name="group">The target group.</param>
    /// <param name="error">The error text to keep with it, if any.</param>
    /// <returns>The operation.</returns>
    public static TaskOp Move(TaskItem task, string group, string? error = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(group);
        return new(TaskOpKind.Move, task, group, error);
    }

    /// <summary>Gives a leased task back, fenced by its (Id, LeaseVersion): ready again at the store's now +
    /// <paramref name="delay"/> (a retry's backoff, or zero to hand it on at once).</summary>
    /// <param name="task">The task as its holder knows it.</param>
    /// <param name="delay">How long from the store's now until the task is ready again.</param>
    /// <param name="error">The error text to keep with it; <see langword="null"/> keeps the task's current error.</param>
    /// <returns>The operation.</returns>
    public static TaskOp Disown(TaskItem task, TimeSpan delay = default, string? error = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(delay, TimeSpan.Zero);
        return new(TaskOpKind.Disown, task, error: error, ownFor: delay);
    }

    /// <summary>Asserts that a task still exists at this (Id, LeaseVersion); changes nothing.</summary>
    /// <param name="task">The task as the caller knows it.</param>
    /// <returns>The operation.</returns>
    public static TaskOp Pred(TaskItem task) => new(TaskOpKind.Pred, task);

    /// <summary>Renews a lease to an absolute time: not-before = the store's now + <paramref name="ownFor"/>; fenced by (Id, LeaseVersion).</summary>
    /// <param name="task">The task as its holder knows it.</param>
    /// <param name="ownFor">How long the lease lasts from now.</param>
    /// <returns>The operation.</returns>
    public static TaskOp Reown(TaskItem task, TimeSpan ownFor)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(ownFor, TimeSpan.Zero);
        return new(TaskOpKind.Reown, task, ownFor: ownFor);
    }
}

/// <summary>The kinds of <see cref="TaskOp"/>.</summary>
internal enum TaskOpKind
{
    Create,
    Delete,
    Update,
    Move,
    Pred,
    Reown,
    Disown,
}
