namespace Coordination.HttpBenchmarks;

/// <summary>The managed heap after a forced, compacting full collection, and the flights still in progress.</summary>
internal sealed record HeapReport(long TotalMemoryBytes, long HeapSizeBytes, long FragmentedBytes, long ActiveFlights)
{
    public static HeapReport AfterFullCollection(long activeFlights)
    {
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        var total = GC.GetTotalMemory(forceFullCollection: true);
        var info = GC.GetGCMemoryInfo(GCKind.Any);
        return new HeapReport(total, info.HeapSizeBytes, info.FragmentedBytes, activeFlights);
    }
}
