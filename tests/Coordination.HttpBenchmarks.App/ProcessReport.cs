namespace Coordination.HttpBenchmarks;

/// <summary>
/// Counters of the app process that explain a rate: methods the JIT compiled so far (tiered compilation recompiles
/// hot methods for seconds after load starts, so a variant is measured only once they stop growing), bytes allocated,
/// time the GC paused the process, and work items the thread pool ran.
/// </summary>
internal sealed record ProcessReport(long CompiledMethods, long AllocatedBytes, double GcPauseMicroseconds, long ThreadPoolWorkItems)
{
    public static ProcessReport Now() => new(
        System.Runtime.JitInfo.GetCompiledMethodCount(currentThread: false),
        GC.GetTotalAllocatedBytes(precise: true),
        GC.GetTotalPauseDuration().TotalMicroseconds,
        ThreadPool.CompletedWorkItemCount);

    /// <summary>What happened between <paramref name="before"/> and this report, per request.</summary>
    /// <remarks>The runtime's count of allocated bytes has been seen to step back under the server GC once in a few
    /// hundred reads: a negative difference means no figure, and the driver leaves it out.</remarks>
    public (double AllocatedBytes, double GcPauseMicroseconds, double ThreadPoolWorkItems) PerRequest(ProcessReport before, long requests)
    {
        var count = Math.Max(1, requests);
        return ((double)(AllocatedBytes - before.AllocatedBytes) / count,
            (GcPauseMicroseconds - before.GcPauseMicroseconds) / count,
            (double)(ThreadPoolWorkItems - before.ThreadPoolWorkItems) / count);
    }
}
