using System.Collections.Concurrent;

namespace Coordination.Ingestion;

/// <summary>The keys of an ingestion parked after a dead letter, and since when (the log holds the durable copy).</summary>
internal sealed class ParkedKeys(TimeProvider timeProvider)
{
    private readonly ConcurrentDictionary<string, long> _since = new(StringComparer.Ordinal);

    public int Count => _since.Count;

    public bool Contains(string key) => _since.ContainsKey(key);

    public void Park(string key) => _since.TryAdd(key, timeProvider.GetTimestamp());

    public void Release(string key) => _since.TryRemove(key, out _);

    /// <summary>Makes the set the log's: keys no longer parked are released, new ones parked from now.</summary>
    public void ReplaceWith(IReadOnlySet<string> keys)
    {
        foreach (var key in _since.Keys)
        {
            if (!keys.Contains(key))
            {
                Release(key);
            }
        }

        foreach (var key in keys)
        {
            Park(key);
        }
    }

    /// <summary>How long the key parked longest ago has been parked; zero when none is.</summary>
    public TimeSpan OldestAge()
    {
        var oldest = long.MaxValue;
        foreach (var since in _since.Values)
        {
            oldest = Math.Min(oldest, since);
        }

        return oldest == long.MaxValue ? TimeSpan.Zero : timeProvider.GetElapsedTime(oldest);
    }
}
