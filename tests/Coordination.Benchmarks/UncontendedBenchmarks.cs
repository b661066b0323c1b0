using BenchmarkDotNet.Attributes;
using ZiggyCreatures.Caching.Fusion;

namespace Coordination.Benchmarks;

/// <summary>
/// One caller per key: the bookkeeping cost of a call that shares nothing, on one thread, and on every core at once
/// (each core its own keys), where calls that share nothing still meet in the table's shared memory.
/// </summary>
[MemoryDiagnoser]
public class UncontendedBenchmarks : PeerBenchmark
{
    private const int Keys = 1024;
    private static readonly Task<int> Value = Task.FromResult(42);
    private readonly string[] _keys = [.. Enumerable.Range(0, Keys).Select(i => $"key-{i}")];
    private readonly string[][] _keysPerCore = [.. Enumerable.Range(0, Environment.ProcessorCount).Select(core => Enumerable.Range(0, Keys).Select(i => $"core-{core}-key-{i}").ToArray())];

    [Benchmark(Baseline = true, OperationsPerInvoke = Keys)]
    public Task<int> SingleFlightGroup_RunAsync() => SingleFlightCalls(_keys);

    [Benchmark(OperationsPerInvoke = Keys)]
    public Task<int> HybridCache_GetOrCreateAsync() => HybridCacheCalls(_keys);

    [Benchmark(OperationsPerInvoke = Keys)]
    public Task<int> FusionCache_GetOrSetAsync() => FusionCacheCalls(_keys);

    /// <summary>Every core calls at once, each on keys of its own: the time per call, as each core sees it.</summary>
    [Benchmark(OperationsPerInvoke = Keys)]
    public Task<int[]> SingleFlightGroup_RunAsync_EveryCore() => OnEveryCore(SingleFlightCalls);

    [Benchmark(OperationsPerInvoke = Keys)]
    public Task<int[]> HybridCache_GetOrCreateAsync_EveryCore() => OnEveryCore(HybridCacheCalls);

    [Benchmark(OperationsPerInvoke = Keys)]
    public Task<int[]> FusionCache_GetOrSetAsync_EveryCore() => OnEveryCore(FusionCacheCalls);

    private async Task<int> SingleFlightCalls(string[] keys)
    {
        var sum = 0;
        foreach (var key in keys)
        {
            sum += await Group.RunAsync(key, static _ => Value);
        }

        return sum;
    }

    private async Task<int> HybridCacheCalls(string[] keys)
    {
        var sum = 0;
        foreach (var key in keys)
        {
            sum += await Hybrid.GetOrCreateAsync(key, static _ => new ValueTask<int>(42), Peers.HybridNoCaching);
        }

        return sum;
    }

    private async Task<int> FusionCacheCalls(string[] keys)
    {
        var sum = 0;
        foreach (var key in keys)
        {
            sum += await Fusion.GetOrSetAsync(key, static _ => Value, Peers.FusionNoCaching);
        }

        return sum;
    }

    private Task<int[]> OnEveryCore(Func<string[], Task<int>> calls) => Task.WhenAll(_keysPerCore.Select(keys => Task.Run(() => calls(keys))));
}
