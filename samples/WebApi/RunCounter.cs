using System.Collections.Concurrent;

namespace WebApi;

/// <summary>Counts how many times each handler really ran, so coalescing can be seen from outside.</summary>
public sealed class RunCounter
{
    private readonly ConcurrentDictionary<string, int> _runs = new(StringComparer.Ordinal);

    public void Ran(string handler) => _runs.AddOrUpdate(handler, 1, static (_, count) => count + 1);

    public int Runs(string handler) => _runs.GetValueOrDefault(handler);

    public IReadOnlyDictionary<string, int> Snapshot() => new SortedDictionary<string, int>(_runs, StringComparer.Ordinal);
}
