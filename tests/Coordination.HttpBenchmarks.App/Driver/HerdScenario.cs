using static Coordination.HttpBenchmarks.Driver.ResultTable;

namespace Coordination.HttpBenchmarks.Driver;

/// <summary>
/// Scenario 1: 200 connections on one URL whose handler takes 50 ms. Single-flight should answer at least as many
/// requests per second as OutputCache with locking, and run the handler at most once per 50 ms.
/// </summary>
internal static class HerdScenario
{
    public const int Connections = 200;
    private const double HandlerMilliseconds = 50;

    /// <summary>Measures <paramref name="candidate"/> against <paramref name="reference"/>, then the others for
    /// comparison, each for the herd duration after a warm-up.</summary>
    public static async Task<IReadOnlyList<ResultRow>> RunAsync(DriverContext context, string title, string candidate, string reference, params string[] others)
    {
        var measured = new List<(string Variant, WrkResult Result, long Runs)>();
        foreach (var variant in (string[])[candidate, reference, .. others])
        {
            var url = DriverContext.Url(context.App, $"/{variant}/herd");
            await context.Wrk.RunAsync(url, Connections, context.WarmUp);
            var before = await context.App.RunsAsync($"{variant}/herd");
            var result = await context.Wrk.RunAsync(url, Connections, TimeSpan.FromSeconds(context.Options.HerdSeconds));
            var after = await context.App.RunsAsync($"{variant}/herd");
            measured.Add((variant, result, after.Runs - before.Runs));
        }

        var referenceRate = measured[1].Result.RequestsPerSecond;
        return measured.Select((m, index) =>
        {
            var perWindow = m.Runs / (m.Result.DurationMicroseconds / (HandlerMilliseconds * 1000));
            var row = new ResultRow(
                title,
                Describe(m.Variant),
                m.Result.RequestsPerSecond,
                m.Result.P50Milliseconds,
                m.Result.P99Milliseconds,
                $"{Count(m.Runs)} handler runs ({perWindow:0.00} per 50 ms){DriverContext.Errors(m.Result)}");
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

    public static string Describe(string variant) => variant switch
    {
        BenchmarkApp.SingleFlight => "single-flight",
        BenchmarkApp.OutputCache => "OutputCache",
        BenchmarkApp.Plain => "plain",
        BenchmarkApp.SingleFlightCached => "single-flight + CacheFor(1 s)",
        BenchmarkApp.OutputCacheOneSecond => "OutputCache, 1 s",
        _ => variant,
    };
}
