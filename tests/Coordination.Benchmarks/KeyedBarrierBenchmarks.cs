using BenchmarkDotNet.Attributes;
using Coordination.Barriers;

namespace Coordination.Benchmarks;

/// <summary>The barrier's operations with 1, 1k and 1M keys blocked by a failed job (an open key holds no entry).</summary>
[MemoryDiagnoser]
public class KeyedBarrierBenchmarks
{
    private KeyedBarrier _barrier = null!;
    private string[] _keys = [];
    private int _next;

    [Params(1, 1_000, 1_000_000)]
    public int BlockedKeys { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _barrier = new KeyedBarrier();
        _keys = [.. Enumerable.Range(0, BlockedKeys).Select(i => $"account-{i}")];
        foreach (var key in _keys)
        {
            _barrier.StateChanged(key, 100, JobState.Failed);
        }
    }

    [Benchmark]
    public BarrierEntry Enter_OpenKey() => _barrier.Enter("open", 1);

    [Benchmark]
    public BarrierEntry Enter_BlockedKey() => _barrier.Enter(NextKey(), 101);

    [Benchmark]
    public BarrierWait Wait_BlockedKey() => _barrier.Wait(NextKey(), 101);

    /// <summary>The lifecycle of one entry: a failure blocks a fresh key, its success is queued, Sync opens it.
    /// The bytes allocated here are the bytes of one entry and one command.</summary>
    [Benchmark]
    public int FailSucceedSync()
    {
        _barrier.StateChanged("cycle", 1, JobState.Failed);
        _barrier.StateChanged("cycle", 1, JobState.Succeeded);
        return _barrier.Sync();
    }

    private string NextKey() => _keys[_next++ % _keys.Length];
}
