using System.Collections.Concurrent;
using Coordination.Batching;

namespace WebApi;

/// <summary>A counter as the batch processor sees it: loaded once per batch, incremented by every operation, saved once.</summary>
public sealed class CounterState
{
    public long Value { get; set; }
}

/// <summary>Stands in for a database table of counters; each read and write costs about 5 ms.</summary>
/// <remarks>Counters whose id starts with <c>offline-</c> live on a shard that is down: reading them fails, so their
/// batches abort and their increments answer 503.</remarks>
public sealed class CounterDatabase(TimeProvider time)
{
    public static readonly TimeSpan RoundTrip = TimeSpan.FromMilliseconds(5);

    private readonly ConcurrentDictionary<string, long> _rows = new(StringComparer.Ordinal);

    public async Task<long> ReadAsync(string id, CancellationToken cancellationToken)
    {
        await Task.Delay(RoundTrip, time, cancellationToken);
        if (id.StartsWith("offline-", StringComparison.Ordinal))
        {
            throw new InvalidOperationException($"The shard of counter '{id}' is unreachable.");
        }

        return _rows.GetValueOrDefault(id);
    }

    public async Task WriteAsync(string id, long value, CancellationToken cancellationToken)
    {
        await Task.Delay(RoundTrip, time, cancellationToken);
        _rows[id] = value;
    }
}

/// <summary>Loads and saves counters; a new instance per batch, like a scoped DbContext would be.</summary>
public sealed class CounterStore(CounterDatabase database, RunCounter runs) : IBatchResourceStore<CounterState>
{
    public async ValueTask<CounterState> LoadAsync(string key, CancellationToken cancellationToken)
    {
        runs.Ran("counters.loads");
        return new CounterState { Value = await database.ReadAsync(key, cancellationToken) };
    }

    public async ValueTask SaveAsync(string key, CounterState resource, CancellationToken cancellationToken)
    {
        runs.Ran("counters.saves");
        await database.WriteAsync(key, resource.Value, cancellationToken);
    }
}
