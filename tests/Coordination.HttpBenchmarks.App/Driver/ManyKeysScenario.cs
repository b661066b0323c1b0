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

    /// <summary>Heap after the run, as a multiple of the baseline, that still counts as "back to baseline".</summary>
    private const double HeapTolerance = 1.10;

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
                $"0 flights, heap ≤ {Times(HeapTolerance)} baseline",
                after.ActiveFlights == 0 && heapRatio <= HeapTolerance && runs >= keys),
        ];
    }
}
