using System.Collections.Concurrent;
using System.Collections.Immutable;

namespace Coordination.Tasks;

/// <summary>The callbacks of <see cref="ITaskReadyNotifier.Subscribe"/>, per group; a store that notifies holds one.</summary>
internal sealed class TaskReadySubscriptions
{
    private readonly ConcurrentDictionary<string, ImmutableArray<Action>> _byGroup = new(StringComparer.Ordinal);

    public IDisposable Subscribe(string group, Action onReady)
    {
        ArgumentException.ThrowIfNullOrEmpty(group);
        ArgumentNullException.ThrowIfNull(onReady);
        _byGroup.AddOrUpdate(group, static (_, callback) => [callback], static (_, callbacks, callback) => callbacks.Add(callback), onReady);
        return new Registration(this, group, onReady);
    }

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
