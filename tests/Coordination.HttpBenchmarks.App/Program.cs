using Coordination.HttpBenchmarks;
using Coordination.HttpBenchmarks.Driver;

// `serve` runs the benchmark app; `drive` starts it (and a second one without the library), loads it with wrk and
// a raw-socket client, and prints the results table. eng/bench-http.sh builds in Release and runs `drive`.
return args.FirstOrDefault() switch
{
    "serve" => await BenchmarkApp.RunAsync(args[1..]),
    "drive" => await BenchmarkDriver.RunAsync(args[1..]),
    _ => Usage(),
};

static int Usage()
{
    Console.Error.WriteLine("usage: Coordination.HttpBenchmarks.App serve [--without-coordination] --urls http://127.0.0.1:PORT");
    Console.Error.WriteLine("       Coordination.HttpBenchmarks.App drive [options]   (see eng/bench-http.sh --help)");
    return 2;
}
