using Coordination.HttpBenchmarks.Driver;

namespace Coordination.HttpBenchmarks;

/// <summary>
/// <c>serve</c> runs the benchmark app; <c>drive</c> starts it (and fresh copies for some scenarios), loads it with
/// wrk and a raw-socket client, and prints the results table. eng/bench-http.sh builds in Release and runs <c>drive</c>.
/// </summary>
internal static class Program
{
    public static async Task<int> Main(string[] args) => args.FirstOrDefault() switch
    {
        "serve" => await BenchmarkApp.RunAsync(args[1..]),
        "drive" => await BenchmarkDriver.RunAsync(args[1..]),
        _ => Usage(),
    };

    private static int Usage()
    {
        Console.Error.WriteLine("usage: Coordination.HttpBenchmarks.App serve [--without-coordination] --urls http://127.0.0.1:PORT");
        Console.Error.WriteLine("       Coordination.HttpBenchmarks.App drive [options]   (eng/bench-http.sh --help lists them)");
        return 2;
    }
}
