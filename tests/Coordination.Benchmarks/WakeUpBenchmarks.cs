using BenchmarkDotNet.Attributes;
using ZiggyCreatures.Caching.Fusion;

namespace Coordination.Benchmarks;

/// <summary>
/// Wake-up: 10,000 callers are parked on one execution before the measurement starts; the measured part is only
/// the release of the work's result and the resumption of every caller.
/// </summary>
[InvocationCount(1, 1)]
public class WakeUpBenchmarks : PeerBenchmark
{
    private readonly CancellationTokenSource _neverCanceled = new();
    private TaskCompletionSource<int> _gate = null!;
    private Task[] _callers = [];
    private int _burst;

    [Params(10_000)]
    public int Waiters { get; set; }

    [IterationSetup(Target = nameof(SingleFlightGroup))]
    public void ParkOnSingleFlightGroup() => Park((key, work) => Group.RunAsync(key, work));

    /// <summary>Callers with a token that can cancel (as every HTTP request has) each wait through a waiter of their own.</summary>
    [IterationSetup(Target = nameof(SingleFlightGroup_CancellableCallers))]
    public void ParkCancellableOnSingleFlightGroup() => Park((key, work) => Group.RunAsync(key, work, _neverCanceled.Token));

    [IterationSetup(Target = nameof(HybridCache))]
    public void ParkOnHybridCache() => Park((key, work) => Hybrid.GetOrCreateAsync(key, work, static (w, ct) => new ValueTask<int>(w(ct)), Peers.HybridNoCaching).AsTask());

    [IterationSetup(Target = nameof(FusionCache))]
    public void ParkOnFusionCache() => Park((key, work) => Fusion.GetOrSetAsync<int>(key, (_, ct) => work(ct), Peers.FusionPerBurst).AsTask());

    [Benchmark(Baseline = true)]
    public Task SingleFlightGroup() => ReleaseAsync();

    [Benchmark]
    public Task SingleFlightGroup_CancellableCallers() => ReleaseAsync();

    [Benchmark]
    public Task HybridCache() => ReleaseAsync();

    [Benchmark]
    public Task FusionCache() => ReleaseAsync();

    private Task ReleaseAsync()
    {
        _gate.SetResult(42);
        return Task.WhenAll(_callers);
    }

    private void Park(Func<string, Func<CancellationToken, Task<int>>, Task> call)
    {
        var key = $"wake-{Interlocked.Increment(ref _burst)}";
        var gate = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        Func<CancellationToken, Task<int>> work = _ => gate.Task;
        _gate = gate;
        _callers = new Task[Waiters];
        for (var i = 0; i < _callers.Length; i++)
        {
            _callers[i] = call(key, work);
        }
    }
}
