using System.Globalization;
using static Coordination.HttpBenchmarks.Driver.ResultTable;

namespace Coordination.HttpBenchmarks.Driver;

/// <summary>
/// Scenario 2: a fast handler and a URL of its own per request, so there is nothing to coalesce: what single-flight
/// (and OutputCache) cost on top of the plain endpoint. The variants are interleaved over many short rounds
/// (<c>--rounds</c>, default 32 of 1 s each): this VM's pace drifts by as much as 20% over a few seconds, and runs
/// side by side see the same pace, so short rounds pair better than long ones. Each round's ratios are to that round's
/// plain run, and the goal is judged on the median of the rounds (every round's ratio is printed beside it). Beside the rate, each run reports the app's CPU time per request (from
/// the operating system), which a neighbour taking the machine's time slows far less than the rate, and the bytes it
/// allocated and the time the GC paused it per request.
/// </summary>
/// <remarks>
/// <para>A control runs beside single-flight: the plain endpoint again under a second route (<c>/plain2/fast</c>),
/// judged against plain the same way. Two identical endpoints differ only by this machine's noise, so the control's
/// median and rounds say what a run can tell apart. Single-flight always runs between the two plain routes (plain,
/// single-flight, control in odd rounds; control, single-flight, plain in even ones): each sits as far from plain in
/// every round, and a drift of the machine during a round favours neither.</para>
/// <para>OutputCache is measured after them, in rounds of its own against plain: with unique URLs it fills its store
/// (entries that expired stay until the store's next scan) and allocates hundreds of kilobytes per request, and the
/// variant run after it in the same round paid for that heap.</para>
/// <para>Measured once the JIT has settled (<see cref="JitWarmUp"/>), each phase after its own warm-up.</para>
/// </remarks>
internal static class OverheadScenario
{
    public const int Connections = 64;
    private const double Goal = 0.95;
    private const string Title = "2 overhead (unique URLs)";

    public static async Task<IReadOnlyList<ResultRow>> RunAsync(DriverContext context)
    {
        var rows = new List<ResultRow>();
        await MeasureAsync(
            context,
            rows,
            [BenchmarkApp.Plain, BenchmarkApp.SingleFlight, BenchmarkApp.PlainControl],
            [BenchmarkApp.PlainControl, BenchmarkApp.SingleFlight, BenchmarkApp.Plain]);
        await MeasureAsync(context, rows, [BenchmarkApp.Plain, BenchmarkApp.OutputCache], [BenchmarkApp.OutputCache, BenchmarkApp.Plain]);
        return rows;
    }

    public static double Median(IReadOnlyCollection<double> values)
    {
        var sorted = values.Order().ToArray();
        var middle = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
    }

    /// <summary>One phase: its variants warmed up, then run in rounds (<paramref name="oddOrder"/> in odd rounds,
    /// <paramref name="evenOrder"/> in even ones), each against that round's plain run; then a median row per variant.</summary>
    private static async Task MeasureAsync(DriverContext context, List<ResultRow> rows, string[] oddOrder, string[] evenOrder)
    {
        var warmUp = await JitWarmUp.RunAsync([context.App], context.WarmUp, async () =>
        {
            foreach (var variant in oddOrder)
            {
                await context.Wrk.RunUniqueUrlsAsync(context.App.BaseAddress, $"/{variant}/fast", Connections, context.WarmUp);
            }
        });

        var ratios = oddOrder.ToDictionary(v => v, _ => new List<double>());
        var cpuRatios = oddOrder.ToDictionary(v => v, _ => new List<double>());
        for (var round = 1; round <= context.Options.Rounds; round++)
        {
            var results = new Dictionary<string, (WrkResult Wrk, double CpuMicroseconds, string Process)>();
            foreach (var variant in round % 2 == 1 ? oddOrder : evenOrder)
            {
                var cpuBefore = context.App.CpuTime;
                var processBefore = await context.App.ProcessAsync();
                var result = await context.Wrk.RunUniqueUrlsAsync(
                    context.App.BaseAddress, $"/{variant}/fast", Connections, TimeSpan.FromSeconds(context.Options.Seconds));
                var (allocated, gcPause) = (await context.App.ProcessAsync()).PerRequest(processBefore, result.Requests);
                results[variant] = (result, (context.App.CpuTime - cpuBefore).TotalMicroseconds / Math.Max(1, result.Requests),
                    string.Create(CultureInfo.InvariantCulture, $"{(allocated >= 0 ? $", {allocated:F0} B allocated" : "")}, {gcPause:F2} µs of GC pause"));
            }

            var (plain, plainCpu, _) = results[BenchmarkApp.Plain];
            foreach (var variant in oddOrder)
            {
                var (result, cpu, process) = results[variant];
                var ratio = result.RequestsPerSecond / plain.RequestsPerSecond;
                ratios[variant].Add(ratio);
                cpuRatios[variant].Add(cpu / plainCpu);
                rows.Add(new ResultRow(
                    Title,
                    $"{HerdScenario.Describe(variant)}, round {round}",
                    result.RequestsPerSecond,
                    result.P50Milliseconds,
                    result.P99Milliseconds,
                    string.Create(CultureInfo.InvariantCulture, $"{Count(result.Requests)} requests, {cpu:F1} µs of app CPU each{process}{DriverContext.Errors(result)}"),
                    variant == BenchmarkApp.Plain ? "" : $"{Times(ratio)} req/s, {Times(result.P99Milliseconds / plain.P99Milliseconds)} p99, {Times(cpu / plainCpu)} CPU per request of plain"));
            }
        }

        foreach (var variant in oddOrder.Where(v => v != BenchmarkApp.Plain))
        {
            var median = Median(ratios[variant]);
            var spread = $"rounds: {string.Join(", ", ratios[variant].Select(Times))}; mean {Times(ratios[variant].Average())}; CPU per request {Times(Median(cpuRatios[variant]))} of plain (median); {warmUp}";
            rows.Add(variant == BenchmarkApp.SingleFlight
                ? new ResultRow(Title, $"{HerdScenario.Describe(variant)}, median", null, null, null, spread, $"{Times(median)} plain req/s", $"≥ {Times(Goal)} plain req/s", median >= Goal)
                : new ResultRow(Title, $"{HerdScenario.Describe(variant)}, median", null, null, null, spread, $"{Times(median)} plain req/s"));
        }
    }
}
