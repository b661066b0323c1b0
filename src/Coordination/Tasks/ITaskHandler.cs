namespace Coordination.Tasks;

/// <summary>Handles the tasks of a queue; resolved from a new DI scope per task.</summary>
/// <remarks>Return normally and the task is completed (deleted). Throw <see cref="PermanentTaskException"/> and it moves
/// to the queue's error group; any other exception retries it with backoff until its attempts run out. Handlers must be
/// idempotent for a task id: delivery is at least once.</remarks>
public interface ITaskHandler
{
    /// <summary>Handles one task while the worker keeps its lease.</summary>
    /// <param name="task">The claimed task.</param>
    /// <param name="cancellationToken">Cancelled when the lease is lost or the host gives up waiting at shutdown.</param>
    /// <returns>A task that completes when the work is done.</returns>
    Task HandleAsync(TaskItem task, CancellationToken cancellationToken);
}
