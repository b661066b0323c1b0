using static Coordination.HttpBenchmarks.Driver.ResultTable;

namespace Coordination.HttpBenchmarks.Driver;

/// <summary>
/// Scenario 5: the herd URL under 200 concurrent raw-socket clients, 5% of whose requests are abandoned while
/// waiting or mid-body (<see cref="AbortClient"/>). The clients that stay must get every response whole: no 5xx,
/// no truncated or mixed-up body, no reset. The herd handler passes <c>RequestAborted</c> on, as real handlers do,
/// so under OutputCache an aborting leader cancels the run its waiters share.
/// </summary>
internal static class LeaderAbortScenario
{
    private const double AbortFraction = 0.05;

    public static async Task<IReadOnlyList<ResultRow>> RunAsync(DriverContext context)
    {
        var rows = new List<ResultRow>();
        foreach (var variant in (string[])[BenchmarkApp.SingleFlight, BenchmarkApp.OutputCache, BenchmarkApp.Plain])
        {
            var before = await context.App.RunsAsync($"{variant}/herd");
            var client = new AbortClient(context.App.Endpoint, $"/{variant}/herd", HerdScenario.Connections, AbortFraction);
            var report = await client.RunAsync(TimeSpan.FromSeconds(context.Options.AbortSeconds));
            var after = await context.App.RunsAsync($"{variant}/herd");

            var leaders = variant == BenchmarkApp.SingleFlight ? $" ({Count(report.AbortedLeaders)} of them leaders)" : "";
            var row = new ResultRow(
                "5 leader aborts (5% of clients)",
                HerdScenario.Describe(variant),
                report.RequestsPerSecond,
                null,
                null,
                $"{Count(report.Intact)} intact; aborted {Count(report.AbortedWhileWaiting)} while waiting, {Count(report.AbortedMidResponse)} mid-body{leaders}; " +
                $"{Count(after.Runs - before.Runs)} handler runs, {Count(after.Canceled - before.Canceled)} cancelled",
                $"{Count(report.ServerErrors)} 5xx, {Count(report.Truncated)} truncated, {Count(report.ConnectionErrors + report.OtherStatus)} other errors");
            rows.Add(variant == BenchmarkApp.SingleFlight
                ? row with { Goal = "0 5xx, 0 truncated, 0 other", Met = report.Failures == 0 }
                : row);
        }

        return rows;
    }
}
