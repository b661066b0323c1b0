using System.Collections.Concurrent;
using System.Collections.Immutable;

namespace Coordination.Tasks;

/// <summary>The callbacks of <see cref="ITaskReadyNotifier.Subscribe"/>, per group: a building block for stores that
/// implement <see cref="ITaskReadyNotifier"/>.</summary>
/// <remarks>Thread-safe. Callbacks run on the thread that calls <see cref="Notify"/>.</remarks>
public sealed class TaskReadySubscriptions
{
    private readonly ConcurrentDictionary<string, ImmutableArray<Action>> _byGroup = new(StringComparer.Ordinal);

    /// <summary>Adds a callback for a group.</summary>
    /// <param name="group">The group.</param>
    /// <param name="onReady">The callback.</param>
    /// <returns>A registration; disposing it removes the callback.</returns>
    public IDisposable Subscribe(string group, Action onReady)
    {
        ArgumentException.ThrowIfNullOrEmpty(group);
        ArgumentNullException.ThrowIfNull(onReady);
        _byGroup.AddOrUpdate(group, static (_, callback) => [callback], static (_, callbacks, callback) => callbacks.Add(callback), onReady);
        return new Registration(this, group, onReady);
    }

    /// <summary>Calls the callbacks of a group.</summary>
    /// <param name="group">The group where a task may have become ready.</param>
    public void Notify(string group)
    {
        if (_byGroup.TryGetValue(group, out var callbacks))
        {
            foreach (var callback in callbacks)
            {
                callback();
            }
        }
    }

    /// <summary>Calls every callback: for when notifications may have been missed (a listener reconnected).</summary>
    public void NotifyAll()
    {
        foreach (var group in _byGroup.Keys)
        {
            Notify(group);
        }
    }

    private void Unsubscribe(string group, Action onReady) =>
        _byGroup.AddOrUpdate(group, static (_, _) => [], static (_, callbacks, callback) => callbacks.Remove(callback), onReady);

    private sealed class Registration(TaskReadySubscriptions owner, string group, Action onReady) : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                owner.Unsubscribe(group, onReady);
            }
        }
    }
}
