using static Coordination.HttpBenchmarks.Driver.ResultTable;

namespace Coordination.HttpBenchmarks.Driver;

/// <summary>
/// Scenario 3: the plain endpoint (no single-flight) in the app where the library is registered and
/// <c>UseSingleFlight()</c> is in the pipeline, against the same app started without either. Two fresh processes
/// started side by side (the main app has been through the other scenarios: its thread pool and memory pools would
/// favour it), warmed up for three warm-ups each (the JIT's tiering needs a few seconds of traffic), run A B then
/// B A so that a drift in the machine's load favours neither; the goal is judged on the median of the rounds, as in
/// scenario 2.
/// </summary>
internal static class RegistrationScenario
{
    private const int Connections = OverheadScenario.Connections;
    private const double Goal = 0.99;
    private const string Title = "3 endpoint without single-flight";
    private const string Path = "/plain/fast";

    public static async Task<IReadOnlyList<ResultRow>> RunAsync(DriverContext context)
    {
        await using var withoutLibrary = await context.StartAppAsync("app-without-coordination", withCoordination: false);
        await using var withLibrary = await context.StartAppAsync("app-with-coordination", withCoordination: true);
        (string Name, AppProcess App)[] apps = [("app without the library", withoutLibrary), ("library registered", withLibrary)];
        foreach (var (_, app) in apps)
        {
            await context.Wrk.RunAsync(DriverContext.Url(app, Path), Connections, context.WarmUp * 3);
        }

        var rows = new List<ResultRow>();
        var ratios = new List<double>();
        for (var round = 1; round <= context.Options.Rounds; round++)
        {
            var results = new Dictionary<AppProcess, WrkResult>();
            foreach (var (_, app) in round % 2 == 1 ? apps : Enumerable.Reverse(apps))
            {
                results[app] = await context.Wrk.RunAsync(DriverContext.Url(app, Path), Connections, TimeSpan.FromSeconds(context.Options.Seconds));
            }

            var ratio = results[withLibrary].RequestsPerSecond / results[withoutLibrary].RequestsPerSecond;
            ratios.Add(ratio);
            foreach (var (name, app) in apps)
            {
                var result = results[app];
                rows.Add(new ResultRow(
                    Title,
                    $"{name}, round {round}",
                    result.RequestsPerSecond,
                    result.P50Milliseconds,
                    result.P99Milliseconds,
                    $"{Count(result.Requests)} requests to {Path}{DriverContext.Errors(result)}",
                    app == withLibrary ? $"{Times(ratio)} req/s without the library" : ""));
            }
        }

        var median = OverheadScenario.Median(ratios);
        rows.Add(new ResultRow(
            Title,
            "library registered, median",
            null,
            null,
            null,
            $"rounds: {string.Join(", ", ratios.Select(Times))}; mean {Times(ratios.Average())}",
            $"{Times(median)} req/s without the library",
            $"≥ {Times(Goal)}",
            median >= Goal));
        return rows;
    }
}
