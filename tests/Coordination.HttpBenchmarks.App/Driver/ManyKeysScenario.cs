using static Coordination.HttpBenchmarks.Driver.ResultTable;

namespace Coordination.HttpBenchmarks.Driver;

/// <summary>
/// Scenario 4: a million distinct URLs through single-flight, then the managed heap after a forced full collection
/// against its baseline, and the flights still in progress (must be 0). It runs in a fresh app process, so that
/// the other scenarios' leftovers (OutputCache entries awaiting their expiration scan) neither inflate the baseline
/// nor hide a leak in its tolerance; the baseline is taken after a warm-up of the same endpoint, so that what the
/// first requests allocate for good (JIT, pools, routing caches) is in both.
/// </summary>
internal static class ManyKeysScenario
{
    private const int Connections = OverheadScenario.Connections;
    private const string Endpoint = BenchmarkApp.SingleFlight + "/fast";

    /// <summary>Heap growth that still counts as "back to baseline": 10% of it, and at least 1 MiB (a fresh app's heap
    /// is about 1 MiB, and a table that kept even 8 bytes per key would keep 8 MB after a million keys).</summary>
    private const double HeapTolerance = 0.10;
    private const long HeapToleranceFloor = 1024 * 1024;

    public static async Task<IReadOnlyList<ResultRow>> RunAsync(DriverContext context)
    {
        await using var app = await context.StartAppAsync("app-many-keys", withCoordination: true);
        var path = "/" + Endpoint;
        await context.Wrk.RunUniqueUrlsAsync(app.BaseAddress, path, Connections, context.WarmUp);
        var baseline = await app.GetAsync<HeapReport>("/diag/heap");
        var before = await app.RunsAsync(Endpoint);
        var keys = context.Options.Keys;
        var result = await context.Wrk.RunUniqueUrlsUntilAsync(
            app.BaseAddress, path, Connections, async () => (await app.RunsAsync(Endpoint)).Runs - before.Runs >= keys);
        var runs = (await app.RunsAsync(Endpoint)).Runs - before.Runs;
        var after = await app.GetAsync<HeapReport>("/diag/heap");

        var heapRatio = (double)after.TotalMemoryBytes / baseline.TotalMemoryBytes;
        var allowedGrowth = Math.Max((long)(baseline.TotalMemoryBytes * HeapTolerance), HeapToleranceFloor);
        return
        [
            new ResultRow(
                "4 many keys",
                "single-flight",
                result.RequestsPerSecond,
                result.P50Milliseconds,
                result.P99Milliseconds,
                $"{Count(result.Requests)} distinct URLs, {Count(runs)} handler runs; flights in progress after: {after.ActiveFlights}; " +
                $"heap {Mebibytes(baseline.TotalMemoryBytes)} → {Mebibytes(after.TotalMemoryBytes)} " +
                $"(GC heap size {Mebibytes(baseline.HeapSizeBytes)} → {Mebibytes(after.HeapSizeBytes)}){DriverContext.Errors(result)}",
                $"{Times(heapRatio)} baseline heap",
                $"0 flights, heap ≤ baseline + {Mebibytes(allowedGrowth)} (10%, at least 1 MiB)",
                after.ActiveFlights == 0 && after.TotalMemoryBytes - baseline.TotalMemoryBytes <= allowedGrowth && runs >= keys),
        ];
    }
}
