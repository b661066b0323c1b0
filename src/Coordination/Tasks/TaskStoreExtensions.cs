namespace Coordination.Tasks;

/// <summary>Operations and leases over any <see cref="ITaskStore"/>.</summary>
public static class TaskStoreExtensions
{
    private const int MaxFailedRenewals = 3;

    /// <summary>Applies operations atomically: all or none (<see cref="ITaskStore.DoAsync(IReadOnlyList{TaskOp}, CancellationToken)"/>).</summary>
    /// <param name="store">The store.</param>
    /// <param name="operations">The operations; a task may appear in only one of them.</param>
    /// <returns>The task each operation produced.</returns>
    /// <exception cref="LeaseLostException">A task named by (Id, LeaseVersion) is gone or was claimed since.</exception>
    public static ValueTask<IReadOnlyList<TaskItem>> DoAsync(this ITaskStore store, params TaskOp[] operations)
    {
        ArgumentNullException.ThrowIfNull(store);
        return store.DoAsync((IReadOnlyList<TaskOp>)operations, CancellationToken.None);
    }

    /// <summary>
    /// Runs <paramref name="work"/> while renewing the task's lease every <paramref name="heartbeat"/> to an absolute
    /// time (the store's now + <paramref name="ownFor"/>). A renewal that finds the lease taken cancels the work's token
    /// at once; so do three failed renewals in a row.
    /// </summary>
    /// <param name="store">The store.</param>
    /// <param name="task">The claimed task.</param>
    /// <param name="work">The work; its token is cancelled when the lease is lost or <paramref name="cancellationToken"/> is.</param>
    /// <param name="heartbeat">How often to renew; well under <paramref name="ownFor"/> (a quarter is usual).</param>
    /// <param name="ownFor">The lease length from each renewal.</param>
    /// <param name="timeProvider">The clock of the heartbeat; <see cref="TimeProvider.System"/> when <see langword="null"/>.</param>
    /// <param name="cancellationToken">Cancels the work.</param>
    /// <returns>The task as it stands after the last renewal: complete it with <see cref="TaskOp.Delete"/> or
    /// <see cref="TaskOp.Move"/> (its id and lease version never change while the lease is held).</returns>
    /// <exception cref="LeaseLostException">The lease was lost while the work ran: whatever the work did must not be committed.</exception>
    public static async Task<TaskItem> RunWithLeaseAsync(
        this ITaskStore store,
        TaskItem task,
        Func<TaskItem, CancellationToken, Task> work,
        TimeSpan heartbeat,
        TimeSpan ownFor,
        TimeProvider? timeProvider = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(task);
        ArgumentNullException.ThrowIfNull(work);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(heartbeat, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThan(ownFor, heartbeat);

        using var workCancellation = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var current = task;
        LeaseLostException? lost = null;
        var failedRenewals = 0;
        using var renewals = new PeriodicTimer(heartbeat, timeProvider ?? TimeProvider.System);
        var running = work(task, workCancellation.Token);
        var tick = renewals.WaitForNextTickAsync(CancellationToken.None).AsTask();
        while (!running.IsCompleted)
        {
            if (await Task.WhenAny(running, tick).ConfigureAwait(false) == running)
            {
                break;
            }

            try
            {
                current = (await store.DoAsync(TaskOp.Reown(current, ownFor)).ConfigureAwait(false))[0];
                failedRenewals = 0;
            }
            catch (LeaseLostException exception)
            {
                lost = exception;
                await workCancellation.CancelAsync().ConfigureAwait(false);
                break;
            }
            catch (Exception exception) when (++failedRenewals >= MaxFailedRenewals)
            {
                lost = new LeaseLostException($"Task {task.Id}: {MaxFailedRenewals} renewals in a row failed; the lease is treated as lost.", exception) { TaskId = task.Id, LeaseVersion = task.LeaseVersion };
                await workCancellation.CancelAsync().ConfigureAwait(false);
                break;
            }
            catch (Exception)
            {
                // A transient failure: the next heartbeat tries again, still before the lease runs out.
            }

            tick = renewals.WaitForNextTickAsync(CancellationToken.None).AsTask();
        }

        try
        {
            await running.ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (lost is not null)
        {
            // The work stopped because its lease was lost; that is what the caller learns.
        }

        return lost is null ? current : throw lost;
    }
}
