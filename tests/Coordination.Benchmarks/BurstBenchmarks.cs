using BenchmarkDotNet.Attributes;
using ZiggyCreatures.Caching.Fusion;

namespace Coordination.Benchmarks;

/// <summary>
/// A burst of callers on one key whose work completes only after every caller has joined: the whole cost of
/// joining, waking and returning, per caller. Each burst uses a fresh key and must run its work exactly once.
/// </summary>
[MemoryDiagnoser]
public class BurstBenchmarks : PeerBenchmark
{
    private int _burst;

    [Params(1_000)]
    public int Callers { get; set; }

    [Benchmark(Baseline = true, OperationsPerInvoke = 1_000)]
    public Task SingleFlightGroup_RunAsync() =>
        BurstAsync(static (self, key, work) => self.Group.RunAsync(key, work));

    [Benchmark(OperationsPerInvoke = 1_000)]
    public Task HybridCache_GetOrCreateAsync() =>
        BurstAsync(static (self, key, work) => self.Hybrid.GetOrCreateAsync(key, work, static (w, ct) => new ValueTask<int>(w(ct)), Peers.HybridNoCaching).AsTask());

    [Benchmark(OperationsPerInvoke = 1_000)]
    public Task FusionCache_GetOrSetAsync() =>
        BurstAsync(static (self, key, work) => self.Fusion.GetOrSetAsync<int>(key, (_, ct) => work(ct), Peers.FusionPerBurst).AsTask());

    private async Task BurstAsync(Func<BurstBenchmarks, string, Func<CancellationToken, Task<int>>, Task<int>> call)
    {
        var key = $"burst-{Interlocked.Increment(ref _burst)}";
        var gate = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        var executions = 0;
        Func<CancellationToken, Task<int>> work = _ =>
        {
            Interlocked.Increment(ref executions);
            return gate.Task;
        };
        var callers = new Task<int>[Callers];
        for (var i = 0; i < callers.Length; i++)
        {
            callers[i] = call(this, key, work);
        }

        gate.SetResult(42);
        await Task.WhenAll(callers);
        if (executions != 1)
        {
            throw new InvalidOperationException($"The burst ran its work {executions} times.");
        }
    }
}
