using BenchmarkDotNet.Attributes;
using Coordination.SingleFlight;
using Microsoft.Extensions.Caching.Hybrid;
using ZiggyCreatures.Caching.Fusion;

namespace Coordination.Benchmarks;

/// <summary>One single-flight group and its two peers, created once per benchmark run.</summary>
public abstract class PeerBenchmark
{
    private protected SingleFlightGroup<string, int> Group { get; private set; } = null!;

    private protected HybridCache Hybrid { get; private set; } = null!;

    private protected FusionCache Fusion { get; private set; } = null!;

    [GlobalSetup]
    public void CreatePeers()
    {
        Group = new SingleFlightGroup<string, int>();
        Hybrid = Peers.CreateHybridCache();
        Fusion = Peers.CreateFusionCache();
    }

    [GlobalCleanup]
    public void DisposePeers() => Fusion.Dispose();
}
