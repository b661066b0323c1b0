using System.Globalization;
using static Coordination.HttpBenchmarks.Driver.ResultTable;

namespace Coordination.HttpBenchmarks.Driver;

/// <summary>
/// Scenario 2: a fast handler and a URL of its own per request, so there is nothing to coalesce: what single-flight
/// (and OutputCache) cost on top of the plain endpoint. The variants are interleaved over rounds (<c>--rounds</c>,
/// default 8), plain and single-flight in turns (plain first in odd rounds, single-flight first in even ones, so a
/// machine that drifts during a round favours neither), and each round's ratios are to that round's plain run. The goal
/// is judged on the median of the rounds: on a shared VM one round in a few is disturbed (a neighbour, a collection),
/// and every round's ratio is printed beside it. Beside the rate, each run reports the app's CPU time per request (from
/// the operating system), which a neighbour taking the machine's time slows far less than the rate, and the bytes it
/// allocated and the time the GC paused it per request.
/// </summary>
/// <remarks>Measured once the JIT has settled (<see cref="JitWarmUp"/>).</remarks>
internal static class OverheadScenario
{
    public const int Connections = 64;
    private const double Goal = 0.95;
    private const string Title = "2 overhead (unique URLs)";

    public static async Task<IReadOnlyList<ResultRow>> RunAsync(DriverContext context)
    {
        string[] variants = [BenchmarkApp.Plain, BenchmarkApp.SingleFlight, BenchmarkApp.OutputCache];
        var warmUp = await JitWarmUp.RunAsync([context.App], context.WarmUp, async () =>
        {
            foreach (var variant in variants)
            {
                await context.Wrk.RunUniqueUrlsAsync(context.App.BaseAddress, $"/{variant}/fast", Connections, context.WarmUp);
            }
        });

        var rows = new List<ResultRow>();
        var ratios = variants.ToDictionary(v => v, _ => new List<double>());
        var cpuRatios = variants.ToDictionary(v => v, _ => new List<double>());
        for (var round = 1; round <= context.Options.Rounds; round++)
        {
            string[] order = round % 2 == 1 ? variants : [BenchmarkApp.SingleFlight, BenchmarkApp.Plain, BenchmarkApp.OutputCache];
            var results = new Dictionary<string, (WrkResult Wrk, double CpuMicroseconds, string Process)>();
            foreach (var variant in order)
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
            foreach (var variant in variants)
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

        foreach (var variant in variants.Skip(1))
        {
            var median = Median(ratios[variant]);
            var spread = $"rounds: {string.Join(", ", ratios[variant].Select(Times))}; mean {Times(ratios[variant].Average())}; CPU per request {Times(Median(cpuRatios[variant]))} of plain (median); {warmUp}";
            rows.Add(variant == BenchmarkApp.SingleFlight
                ? new ResultRow(Title, $"{HerdScenario.Describe(variant)}, median", null, null, null, spread, $"{Times(median)} plain req/s", $"≥ {Times(Goal)} plain req/s", median >= Goal)
                : new ResultRow(Title, $"{HerdScenario.Describe(variant)}, median", null, null, null, spread, $"{Times(median)} plain req/s"));
        }

        return rows;
    }

    public static double Median(IReadOnlyCollection<double> values)
    {
        var sorted = values.Order().ToArray();
        var middle = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
    }
}
