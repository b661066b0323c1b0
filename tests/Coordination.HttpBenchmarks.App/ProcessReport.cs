namespace Coordination.HttpBenchmarks;

/// <summary>
/// Counters of the app process that explain a rate: methods the JIT compiled so far (tiered compilation recompiles
/// hot methods for seconds after load starts, so a variant is measured only once they stop growing), bytes allocated
/// and the time the GC paused the process.
/// </summary>
internal sealed record ProcessReport(long CompiledMethods, long AllocatedBytes, double GcPauseMicroseconds)
{
    public static ProcessReport Now() => new(
        System.Runtime.JitInfo.GetCompiledMethodCount(currentThread: false),
        GC.GetTotalAllocatedBytes(precise: true),
        GC.GetTotalPauseDuration().TotalMicroseconds);

    /// <summary>What happened between <paramref name="before"/> and this report, per request.</summary>
    /// <remarks>The runtime's count of allocated bytes was once seen to step back under the server GC: a negative
    /// difference means no figure, and the driver leaves it out.</remarks>
    public (double AllocatedBytes, double GcPauseMicroseconds) PerRequest(ProcessReport before, long requests)
    {
        var count = Math.Max(1, requests);
        return ((double)(AllocatedBytes - before.AllocatedBytes) / count, (GcPauseMicroseconds - before.GcPauseMicroseconds) / count);
    }
}
