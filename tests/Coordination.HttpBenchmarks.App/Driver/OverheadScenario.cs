using System.Globalization;
using static Coordination.HttpBenchmarks.Driver.ResultTable;

namespace Coordination.HttpBenchmarks.Driver;

/// <summary>
/// Scenario 2: a fast handler and a URL of its own per request, so there is nothing to coalesce: what single-flight
/// (and OutputCache) cost on top of the plain endpoint. This VM's pace drifts by as much as 20% over a few seconds, more
/// than the effect measured, so every run of a variant sits between two runs of plain, and is judged against their mean:
/// the plain rate at the time it ran, with a steady drift cancelled (an A-B-A design). The runs are short and many
/// (<c>--rounds</c>, default 32, each a run of every variant, of 1 s each) and chained, so that each plain run closes one
/// bracket and opens the next: plain, single-flight, plain, control, plain, then control first in the next round, and
/// so on. The goal is judged on the median of the rounds (every round's ratio is printed beside it). Beside the rate,
/// each run reports the app's CPU time per request (from the operating system), which a neighbour taking the machine's
/// time slows far less than the rate, and the bytes it allocated and the time the GC paused it per request.
/// </summary>
/// <remarks>
/// <para>The control is the plain endpoint again under a second route (<c>/plain2/fast</c>), measured exactly as
/// single-flight is: between two plain runs. Two identical endpoints differ only by this machine's noise, so the
/// control's median and rounds say what the run can tell apart.</para>
/// <para>OutputCache is measured after them, in a chain of its own: with unique URLs it fills its store (entries that
/// expired stay until the store's next scan) and allocates hundreds of kilobytes per request, which the run after it
/// pays for. That run is now a plain one, so OutputCache's ratio flatters it a little; it is not a goal.</para>
/// <para>Measured once the JIT has settled (<see cref="JitWarmUp"/>), each chain after its own warm-up.</para>
/// </remarks>
internal static class OverheadScenario
{
    public const int Connections = 64;
    private const double Goal = 0.95;
    private const string Title = "2 overhead (unique URLs)";

    public static async Task<IReadOnlyList<ResultRow>> RunAsync(DriverContext context)
    {
        var rows = new List<ResultRow>();
        await MeasureAsync(context, rows, [BenchmarkApp.SingleFlight, BenchmarkApp.PlainControl]);
        await MeasureAsync(context, rows, [BenchmarkApp.OutputCache]);
        return rows;
    }

    public static double Median(IReadOnlyCollection<double> values)
    {
        var sorted = values.Order().ToArray();
        var middle = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
    }

    /// <summary>One chain: its variants warmed up, then run in rounds, each variant between two plain runs and judged
    /// against their mean (the variants' order turns every round, so none always runs first); then a median row per
    /// variant.</summary>
    private static async Task MeasureAsync(DriverContext context, List<ResultRow> rows, string[] variants)
    {
        var warmUp = await JitWarmUp.RunAsync([context.App], context.WarmUp, async () =>
        {
            foreach (var variant in variants.Prepend(BenchmarkApp.Plain))
            {
                await context.Wrk.RunUniqueUrlsAsync(context.App.BaseAddress, $"/{variant}/fast", Connections, context.WarmUp);
            }
        });

        var ratios = variants.ToDictionary(v => v, _ => new List<double>());
        var cpuRatios = variants.ToDictionary(v => v, _ => new List<double>());
        var plainBefore = await RunOnceAsync(context, BenchmarkApp.Plain);
        rows.Add(Row(BenchmarkApp.Plain, "before round 1", plainBefore, ratio: ""));
        for (var round = 1; round <= context.Options.Rounds; round++)
        {
            for (var i = 0; i < variants.Length; i++)
            {
                var variant = variants[(i + round - 1) % variants.Length];
                var measured = await RunOnceAsync(context, variant);
                var plainAfter = await RunOnceAsync(context, BenchmarkApp.Plain);
                var plainRate = (plainBefore.Wrk.RequestsPerSecond + plainAfter.Wrk.RequestsPerSecond) / 2;
                var plainCpu = (plainBefore.CpuMicroseconds + plainAfter.CpuMicroseconds) / 2;
                var plainP99 = (plainBefore.Wrk.P99Milliseconds + plainAfter.Wrk.P99Milliseconds) / 2;
                var ratio = measured.Wrk.RequestsPerSecond / plainRate;
                ratios[variant].Add(ratio);
                cpuRatios[variant].Add(measured.CpuMicroseconds / plainCpu);
                rows.Add(Row(variant, $"round {round}", measured,
                    $"{Times(ratio)} req/s, {Times(measured.Wrk.P99Milliseconds / plainP99)} p99, {Times(measured.CpuMicroseconds / plainCpu)} CPU per request of the plain runs around it"));
                rows.Add(Row(BenchmarkApp.Plain, $"round {round}, after {HerdScenario.Describe(variant)}", plainAfter, ratio: ""));
                plainBefore = plainAfter;
            }
        }

        foreach (var variant in variants)
        {
            var median = Median(ratios[variant]);
            var spread = $"rounds: {string.Join(", ", ratios[variant].Select(Times))}; mean {Times(ratios[variant].Average())}; CPU per request {Times(Median(cpuRatios[variant]))} of plain (median); {warmUp}";
            rows.Add(variant == BenchmarkApp.SingleFlight
                ? new ResultRow(Title, $"{HerdScenario.Describe(variant)}, median", null, null, null, spread, $"{Times(median)} plain req/s", $"≥ {Times(Goal)} plain req/s", median >= Goal)
                : new ResultRow(Title, $"{HerdScenario.Describe(variant)}, median", null, null, null, spread, $"{Times(median)} plain req/s"));
        }
    }

    private static async Task<Run> RunOnceAsync(DriverContext context, string variant)
    {
        var cpuBefore = context.App.CpuTime;
        var processBefore = await context.App.ProcessAsync();
        var result = await context.Wrk.RunUniqueUrlsAsync(
            context.App.BaseAddress, $"/{variant}/fast", Connections, TimeSpan.FromSeconds(context.Options.Seconds));
        var (allocated, gcPause) = (await context.App.ProcessAsync()).PerRequest(processBefore, result.Requests);
        return new Run(
            result,
            (context.App.CpuTime - cpuBefore).TotalMicroseconds / Math.Max(1, result.Requests),
            string.Create(CultureInfo.InvariantCulture, $"{(allocated >= 0 ? $", {allocated:F0} B allocated" : "")}, {gcPause:F2} µs of GC pause"));
    }

    private static ResultRow Row(string variant, string when, Run run, string ratio) => new(
        Title,
        $"{HerdScenario.Describe(variant)}, {when}",
        run.Wrk.RequestsPerSecond,
        run.Wrk.P50Milliseconds,
        run.Wrk.P99Milliseconds,
        string.Create(CultureInfo.InvariantCulture, $"{Count(run.Wrk.Requests)} requests, {run.CpuMicroseconds:F1} µs of app CPU each{run.Process}{DriverContext.Errors(run.Wrk)}"),
        ratio);

    /// <summary>One wrk run of one variant, with the app's CPU time per request and what its process reported.</summary>
    private sealed record Run(WrkResult Wrk, double CpuMicroseconds, string Process);
}
