using static Coordination.HttpBenchmarks.Driver.ResultTable;

namespace Coordination.HttpBenchmarks.Driver;

/// <summary>
/// Scenario 3: the plain endpoint (no single-flight) in the app where the library is registered and
/// <c>UseSingleFlight()</c> is in the pipeline, against the same app started without either.
/// </summary>
/// <remarks>
/// <para>Two fresh copies of the app without the library and one with it, started in the order without, with,
/// without (the main app has been through the other scenarios: its thread pool and memory pools would favour it).
/// Two identical fresh processes differ by several percent on this VM (an A/A run of two copies without the library
/// once gave 0.96×: the JIT's tiering with PGO and where the code lands differ from process to process), more than the
/// goal's 1%. So the registered app is compared with the mean of the two copies without it, started before and after
/// it, and the two copies' own ratio is printed beside it as the floor of what this scenario can tell apart.</para>
/// <para>All three are warmed up until their JIT has settled (<see cref="JitWarmUp"/>), then run in rounds, forward in
/// odd rounds and backward in even ones, so that a drift in the machine's load favours none; the goal is judged on the
/// median of the rounds, as in scenario 2.</para>
/// </remarks>
internal static class RegistrationScenario
{
    private const int Connections = OverheadScenario.Connections;
    private const double Goal = 0.99;
    private const string Title = "3 endpoint without single-flight";
    private const string Path = "/plain/fast";

    public static async Task<IReadOnlyList<ResultRow>> RunAsync(DriverContext context)
    {
        await using var firstWithout = await context.StartAppAsync("app-without-coordination", withCoordination: false);
        await using var withLibrary = await context.StartAppAsync("app-with-coordination", withCoordination: true);
        await using var secondWithout = await context.StartAppAsync("app-without-coordination-2", withCoordination: false);
        (string Name, AppProcess App)[] apps =
            [("app without the library (1)", firstWithout), ("library registered", withLibrary), ("app without the library (2)", secondWithout)];
        var warmUp = await JitWarmUp.RunAsync([.. apps.Select(a => a.App)], context.WarmUp, async () =>
        {
            foreach (var (_, app) in apps)
            {
                await context.Wrk.RunAsync(DriverContext.Url(app, Path), Connections, context.WarmUp);
            }
        });

        var rows = new List<ResultRow>();
        var ratios = new List<double>();
        var controls = new List<double>();
        for (var round = 1; round <= context.Options.Rounds; round++)
        {
            var results = new Dictionary<AppProcess, WrkResult>();
            foreach (var (_, app) in round % 2 == 1 ? apps : Enumerable.Reverse(apps))
            {
                results[app] = await context.Wrk.RunAsync(DriverContext.Url(app, Path), Connections, TimeSpan.FromSeconds(context.Options.Seconds));
            }

            var without = (results[firstWithout].RequestsPerSecond + results[secondWithout].RequestsPerSecond) / 2;
            var ratio = results[withLibrary].RequestsPerSecond / without;
            var control = results[secondWithout].RequestsPerSecond / results[firstWithout].RequestsPerSecond;
            ratios.Add(ratio);
            controls.Add(control);
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
                    app == withLibrary ? $"{Times(ratio)} req/s of the two without the library"
                        : app == secondWithout ? $"{Times(control)} req/s of the first without (control)"
                        : ""));
            }
        }

        var median = OverheadScenario.Median(ratios);
        rows.Add(new ResultRow(
            Title,
            "library registered, median",
            null,
            null,
            null,
            $"rounds: {string.Join(", ", ratios.Select(Times))}; mean {Times(ratios.Average())}; control (second copy without the library against the first): median {Times(OverheadScenario.Median(controls))}, rounds {string.Join(", ", controls.Select(Times))}; {warmUp}",
            $"{Times(median)} req/s without the library",
            $"≥ {Times(Goal)}",
            median >= Goal));
        return rows;
    }
}
