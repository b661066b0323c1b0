using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.DependencyInjection;
using ZiggyCreatures.Caching.Fusion;

namespace Coordination.Benchmarks;

/// <summary>The peers, configured so that only their coalescing is measured, never a cache hit.</summary>
internal static class Peers
{
    /// <summary>HybridCache with every cache write off: each call is a miss that goes through its stampede protection.</summary>
    public static readonly HybridCacheEntryOptions HybridNoCaching = new()
    {
        Flags = HybridCacheEntryFlags.DisableLocalCacheWrite | HybridCacheEntryFlags.DisableDistributedCacheWrite
            | HybridCacheEntryFlags.DisableLocalCacheRead | HybridCacheEntryFlags.DisableDistributedCacheRead,
    };

    /// <summary>FusionCache that never writes its memory cache. Its waiters re-check the cache after the lock, so with no
    /// write each waiter would run the factory again; the burst benchmarks therefore use a fresh key per burst with writes on.</summary>
    public static readonly FusionCacheEntryOptions FusionNoCaching = new() { SkipMemoryCacheWrite = true, SkipMemoryCacheRead = true };

    public static readonly FusionCacheEntryOptions FusionPerBurst = new() { Duration = TimeSpan.FromMinutes(5) };

    public static HybridCache CreateHybridCache()
    {
        var services = new ServiceCollection();
        services.AddHybridCache();
        return services.BuildServiceProvider().GetRequiredService<HybridCache>();
    }

    public static FusionCache CreateFusionCache() => new(new FusionCacheOptions());
}
