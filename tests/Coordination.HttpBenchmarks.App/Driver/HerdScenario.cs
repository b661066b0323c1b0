using static Coordination.HttpBenchmarks.Driver.ResultTable;

namespace Coordination.HttpBenchmarks.Driver;

/// <summary>
/// Scenario 1: 200 connections on one URL whose handler takes 50 ms. Single-flight should answer at least as many
/// requests per second as OutputCache with locking, and run the handler at most once per 50 ms. (Scenario 6 is the
/// same with both caching for a second.)
/// </summary>
internal static class HerdScenario
{
    public const int Connections = 200;
    private const double HandlerMilliseconds = 50;

    /// <summary>
    /// Measures <paramref name="candidate"/> against <paramref name="reference"/> in halves of the herd duration, in the
    /// order candidate, reference, reference, candidate (so neither gains from a process that warms up or a machine
    /// that drifts during the run), then the others for comparison, each for the whole duration; warm-ups first, until
    /// the JIT has settled (<see cref="JitWarmUp"/>).
    /// </summary>
    public static async Task<IReadOnlyList<ResultRow>> RunAsync(DriverContext context, string title, string candidate, string reference, params string[] others)
    {
        // A cached herd is bound by the CPU, as scenario 2 is: it is measured once the JIT has settled too.
        var warmUp = await JitWarmUp.RunAsync([context.App], context.WarmUp, async () =>
        {
            foreach (var variant in (string[])[candidate, reference])
            {
                await context.Wrk.RunAsync(DriverContext.Url(context.App, $"/{variant}/herd"), Connections, context.WarmUp);
            }
        });

        var half = TimeSpan.FromSeconds(context.Options.HerdSeconds / 2.0);
        var halves = new Dictionary<string, List<Measurement>> { [candidate] = [], [reference] = [] };
        foreach (var variant in (string[])[candidate, reference, reference, candidate])
        {
            halves[variant].Add(await MeasureAsync(context, variant, half));
        }

        var measured = new List<(string Variant, Measurement Measurement)>
        {
            (candidate, Combine(halves[candidate])),
            (reference, Combine(halves[reference])),
        };
        foreach (var variant in others)
        {
            await context.Wrk.RunAsync(DriverContext.Url(context.App, $"/{variant}/herd"), Connections, context.WarmUp);
            measured.Add((variant, await MeasureAsync(context, variant, TimeSpan.FromSeconds(context.Options.HerdSeconds))));
        }

        var referenceRate = measured[1].Measurement.Result.RequestsPerSecond;
        return measured.Select((v, index) =>
        {
            var m = v.Measurement;
            var perWindow = m.Runs / (m.Result.DurationMicroseconds / (HandlerMilliseconds * 1000));
            // In a coalesced herd the runs follow one another (between one per 100 ms and one per 50 ms; a cached herd
            // runs once per expiry): the idle time between them is the cost of answering the followers and starting
            // the next run, the part of each cycle a coalescing layer can shorten.
            var idle = perWindow is >= 0.5 and <= 1 ? $"; {(m.Result.DurationMicroseconds - m.BusyMicroseconds) / 1000.0 / m.Runs:0.0} ms idle between runs" : "";
            var row = new ResultRow(
                title,
                Describe(v.Variant),
                m.Result.RequestsPerSecond,
                m.Result.P50Milliseconds,
                m.Result.P99Milliseconds,
                $"{Count(m.Runs)} handler runs ({perWindow:0.00} per 50 ms){idle}{(index < 2 ? "; two halves (A B B A), p50/p99 their means" : "")}{(index == 0 ? "; " + warmUp : "")}{DriverContext.Errors(m.Result)}");
            return index == 0
                ? row with
                {
                    Ratio = $"{Times(m.Result.RequestsPerSecond / referenceRate)} {Describe(reference)} req/s",
                    Goal = $"≥ 1.00× {Describe(reference)} req/s, ≤ 1 run per 50 ms",
                    Met = m.Result.RequestsPerSecond >= referenceRate && perWindow <= 1 && m.Result.Non2xx == 0 && m.Result.SocketErrors == 0,
                }
                : row;
        }).ToList();
    }

    private static async Task<Measurement> MeasureAsync(DriverContext context, string variant, TimeSpan duration)
    {
        var before = await context.App.RunsAsync($"{variant}/herd");
        var result = await context.Wrk.RunAsync(DriverContext.Url(context.App, $"/{variant}/herd"), Connections, duration);
        var after = await context.App.RunsAsync($"{variant}/herd");
        return new Measurement(result, after.Runs - before.Runs, after.BusyMicroseconds - before.BusyMicroseconds);
    }

    /// <summary>Two halves as one run: counts and durations add up; the percentiles are the halves' means (wrk's
    /// histograms are not kept, so this is an approximation, and the table says so).</summary>
    private static Measurement Combine(List<Measurement> halves)
    {
        var all = halves.Select(h => h.Result).ToList();
        var result = new WrkResult(
            all.Sum(h => h.Requests),
            all.Sum(h => h.DurationMicroseconds),
            all.Sum(h => h.Non2xx),
            all.Sum(h => h.ConnectErrors),
            all.Sum(h => h.ReadErrors),
            all.Sum(h => h.WriteErrors),
            all.Sum(h => h.Timeouts),
            (long)all.Average(h => h.P50Microseconds),
            (long)all.Average(h => h.P99Microseconds));
        return new Measurement(result, halves.Sum(h => h.Runs), halves.Sum(h => h.BusyMicroseconds));
    }

    private sealed record Measurement(WrkResult Result, long Runs, long BusyMicroseconds);

    public static string Describe(string variant) => variant switch
    {
        BenchmarkApp.SingleFlight => "single-flight",
        BenchmarkApp.OutputCache => "OutputCache",
        BenchmarkApp.Plain => "plain",
        BenchmarkApp.PlainControl => "plain again (control)",
        BenchmarkApp.SingleFlightCached => "single-flight + CacheFor(1 s)",
        BenchmarkApp.OutputCacheOneSecond => "OutputCache, 1 s",
        _ => variant,
    };
}
