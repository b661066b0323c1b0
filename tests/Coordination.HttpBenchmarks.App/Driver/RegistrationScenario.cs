using static Coordination.HttpBenchmarks.Driver.ResultTable;

namespace Coordination.HttpBenchmarks.Driver;

/// <summary>
/// Scenario 3: the plain endpoint (no single-flight) in the app where the library is registered and
/// <c>UseSingleFlight()</c> is in the pipeline, against the same app built without either.
/// </summary>
/// <remarks>
/// <para>The three apps share one fresh process: one with the library and two without it, on ports of their own.
/// Apps in separate processes could not be compared to the goal's 1%: two identical copies without the library, each in
/// its own process, once gave 0.96×, and their rounds ranged 0.71×–1.40× across runs (the JIT's tiering with PGO, and
/// where code and data land, differ from process to process). In one process they share the JIT's code and the
/// runtime, and differ by what each app registered and by one thing more: the JIT's profile of the framework code they
/// share (the middleware's calls to the next one) mixes all three pipelines, so its guesses fit none of them exactly. The app with the library is compared with the mean of the two
/// without it, and the two's own ratio is printed beside it as a control: what the scenario can tell apart.</para>
/// <para>The apps are warmed up until the JIT has settled (<see cref="JitWarmUp"/>), then run in rounds, in the order
/// without, with, without in odd rounds and backward in even ones, so that a drift in the machine's load favours none;
/// the goal is judged on the median of the rounds, as in scenario 2.</para>
/// </remarks>
internal static class RegistrationScenario
{
    private const int Connections = OverheadScenario.Connections;
    private const double Goal = 0.99;
    private const string Title = "3 endpoint without single-flight";
    private const string Path = "/plain/fast";

    public static async Task<IReadOnlyList<ResultRow>> RunAsync(DriverContext context)
    {
        await using var process = await context.StartAppAsync("apps-with-and-without-coordination", withCoordination: true, appsWithoutCoordination: 2);
        var firstWithout = process.AppsWithoutCoordination[0];
        var withLibrary = process.BaseAddress;
        var secondWithout = process.AppsWithoutCoordination[1];
        (string Name, Uri App)[] apps =
            [("app without the library (1)", firstWithout), ("library registered", withLibrary), ("app without the library (2)", secondWithout)];
        var warmUp = await JitWarmUp.RunAsync([process], context.WarmUp, async () =>
        {
            foreach (var (_, app) in apps)
            {
                await context.Wrk.RunAsync(new Uri(app, Path), Connections, context.WarmUp);
            }
        });

        var rows = new List<ResultRow>();
        var ratios = new List<double>();
        var controls = new List<double>();
        for (var round = 1; round <= context.Options.Rounds; round++)
        {
            var results = new Dictionary<Uri, WrkResult>();
            foreach (var (_, app) in round % 2 == 1 ? apps : Enumerable.Reverse(apps))
            {
                results[app] = await context.Wrk.RunAsync(new Uri(app, Path), Connections, TimeSpan.FromSeconds(context.Options.Seconds));
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
