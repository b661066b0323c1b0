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

    /// <summary>Gets what the operation does.</summary>
    public TaskOpKind Kind { get; }

    /// <summary>Gets the task: the one to create, or the one named by (Id, LeaseVersion), with its new values for
    /// <see cref="TaskOpKind.Update"/>.</summary>
    public TaskItem Task { get; }

    /// <summary>Gets the target group of a <see cref="TaskOpKind.Move"/>.</summary>
    /// <value><see langword="null"/> for every other kind.</value>
    public string? Group { get; }

    /// <summary>Gets the error text a <see cref="TaskOpKind.Move"/> or <see cref="TaskOpKind.Disown"/> keeps with the task.</summary>
    /// <value><see langword="null"/> when none is given (a disown then keeps the task's current error).</value>
    public string? Error { get; }

    /// <summary>Gets the lease length of a <see cref="TaskOpKind.Reown"/>, or the delay of a <see cref="TaskOpKind.Disown"/>,
    /// both from the store's now.</summary>
    /// <value><see cref="TimeSpan.Zero"/> for every other kind.</value>
    public TimeSpan OwnFor { get; }

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
