using System.Globalization;
using System.Text;

namespace Coordination.HttpBenchmarks.Driver;

/// <summary>One row of the results table. <paramref name="Met"/> is the goal's verdict where the row has a goal.</summary>
internal sealed record ResultRow(
    string Scenario,
    string Variant,
    double? RequestsPerSecond,
    double? P50Milliseconds,
    double? P99Milliseconds,
    string Measured,
    string Ratio = "",
    string Goal = "",
    bool? Met = null);

/// <summary>The one table the driver prints, as markdown (so it pastes into docs/benchmarks.md), and its number formats.</summary>
internal static class ResultTable
{
    public static string Render(IEnumerable<ResultRow> rows)
    {
        var table = new StringBuilder()
            .AppendLine("| scenario | variant | req/s | p50 ms | p99 ms | measured | ratio | goal | result |")
            .AppendLine("|---|---|---:|---:|---:|---|---|---|---|");
        foreach (var row in rows)
        {
            table.AppendLine(CultureInfo.InvariantCulture,
                $"| {row.Scenario} | {row.Variant} | {Optional(row.RequestsPerSecond, Count)} | {Optional(row.P50Milliseconds, Milliseconds)} | {Optional(row.P99Milliseconds, Milliseconds)} | {row.Measured} | {row.Ratio} | {row.Goal} | {Verdict(row.Met)} |");
        }

        return table.ToString();
    }

    public static string Count(double value) => value.ToString("N0", CultureInfo.InvariantCulture);

    public static string Milliseconds(double value) => value.ToString("0.0", CultureInfo.InvariantCulture);

    public static string Times(double value) => value.ToString("0.00", CultureInfo.InvariantCulture) + "×";

    public static string Mebibytes(long bytes) => (bytes / 1024d / 1024d).ToString("0.0", CultureInfo.InvariantCulture) + " MiB";

    private static string Optional(double? value, Func<double, string> format) => value is { } v ? format(v) : "–";

    private static string Verdict(bool? met) => met switch
    {
        true => "**PASS**",
        false => "**MISS**",
        null => "",
    };
}
