using static Coordination.HttpBenchmarks.Driver.ResultTable;

namespace Coordination.HttpBenchmarks.Driver;

/// <summary>
/// Scenario 2: a fast handler and a URL of its own per request, so there is nothing to coalesce: what single-flight
/// (and OutputCache) cost on top of the plain endpoint. The variants are interleaved over two rounds, and each round's
/// ratios are to that round's plain run, so the spread between rounds shows the noise (<c>--rounds</c>, default 2).
/// </summary>
internal static class OverheadScenario
{
    public const int Connections = 64;
    private const double Goal = 0.95;
    private const string Title = "2 overhead (unique URLs)";

    public static async Task<IReadOnlyList<ResultRow>> RunAsync(DriverContext context)
    {
        string[] variants = [BenchmarkApp.Plain, BenchmarkApp.SingleFlight, BenchmarkApp.OutputCache];
        foreach (var variant in variants)
        {
            await context.Wrk.RunUniqueUrlsAsync(context.App.BaseAddress, $"/{variant}/fast", Connections, context.WarmUp);
        }

        var rows = new List<ResultRow>();
        var ratios = variants.ToDictionary(v => v, _ => new List<double>());
        for (var round = 1; round <= context.Options.Rounds; round++)
        {
            WrkResult? plain = null;
            foreach (var variant in variants)
            {
                var result = await context.Wrk.RunUniqueUrlsAsync(
                    context.App.BaseAddress, $"/{variant}/fast", Connections, TimeSpan.FromSeconds(context.Options.Seconds));
                plain ??= result;
                var ratio = result.RequestsPerSecond / plain.RequestsPerSecond;
                ratios[variant].Add(ratio);
                rows.Add(new ResultRow(
                    Title,
                    $"{HerdScenario.Describe(variant)}, round {round}",
                    result.RequestsPerSecond,
                    result.P50Milliseconds,
                    result.P99Milliseconds,
                    $"{Count(result.Requests)} requests{DriverContext.Errors(result)}",
                    variant == BenchmarkApp.Plain ? "" : $"{Times(ratio)} req/s, {Times(result.P99Milliseconds / plain.P99Milliseconds)} p99 of plain"));
            }
        }

        foreach (var variant in variants.Skip(1))
        {
            var mean = ratios[variant].Average();
            var spread = $"rounds: {string.Join(", ", ratios[variant].Select(Times))}";
            rows.Add(variant == BenchmarkApp.SingleFlight
                ? new ResultRow(Title, $"{HerdScenario.Describe(variant)}, mean", null, null, null, spread, $"{Times(mean)} plain req/s", $"≥ {Times(Goal)} plain req/s", mean >= Goal)
                : new ResultRow(Title, $"{HerdScenario.Describe(variant)}, mean", null, null, null, spread, $"{Times(mean)} plain req/s"));
        }

        return rows;
    }
}
