namespace Coordination.Tasks;

/// <summary>An optional capability of an <see cref="ITaskStore"/>: it tells when a task of a group may have become
/// ready, so that idle workers wake at once instead of at their next poll.</summary>
/// <remarks>Notifications are hints: a store may send one for nothing or, when it cannot deliver one (a lost
/// connection), send none; workers still poll at <see cref="TaskQueueOptions.PollInterval"/>. The in-memory store
/// notifies within the process; a shared store notifies every process that uses it.</remarks>
public interface ITaskReadyNotifier
{
    /// <summary>Calls <paramref name="onReady"/> whenever a task of <paramref name="group"/> may have become ready.</summary>
    /// <param name="group">The group to watch.</param>
    /// <param name="onReady">The callback; it must be quick and must not throw.</param>
    /// <returns>A registration; disposing it stops the calls.</returns>
    IDisposable Subscribe(string group, Action onReady);
}
