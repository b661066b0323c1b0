using BenchmarkDotNet.Attributes;
using ZiggyCreatures.Caching.Fusion;

namespace Coordination.Benchmarks;

/// <summary>One caller per key: the bookkeeping cost of a call that shares nothing.</summary>
[MemoryDiagnoser]
public class UncontendedBenchmarks : PeerBenchmark
{
    private const int Keys = 1024;
    private static readonly Task<int> Value = Task.FromResult(42);
    private readonly string[] _keys = [.. Enumerable.Range(0, Keys).Select(i => $"key-{i}")];

    [Benchmark(Baseline = true, OperationsPerInvoke = Keys)]
    public async Task<int> SingleFlightGroup_RunAsync()
    {
        var sum = 0;
        foreach (var key in _keys)
        {
            sum += await Group.RunAsync(key, static _ => Value);
        }

        return sum;
    }

    [Benchmark(OperationsPerInvoke = Keys)]
    public async Task<int> HybridCache_GetOrCreateAsync()
    {
        var sum = 0;
        foreach (var key in _keys)
        {
            sum += await Hybrid.GetOrCreateAsync(key, static _ => new ValueTask<int>(42), Peers.HybridNoCaching);
        }

        return sum;
    }

    [Benchmark(OperationsPerInvoke = Keys)]
    public async Task<int> FusionCache_GetOrSetAsync()
    {
        var sum = 0;
        foreach (var key in _keys)
        {
            sum += await Fusion.GetOrSetAsync(key, static _ => Value, Peers.FusionNoCaching);
        }

        return sum;
    }
}
