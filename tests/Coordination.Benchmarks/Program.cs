using BenchmarkDotNet.Running;
using Coordination.Benchmarks;

// `postgres-batch`, `postgres-tasks`, `postgres-ingestion` and `ingestion-throughput` run load harnesses,
// `single-flight-allocations` the allocation breakdown of a lone request; anything else goes to BenchmarkDotNet.
if (args.Length > 0 && args[0] == "postgres-batch")
{
    return await PostgresBatchBenchmark.RunAsync(args[1..]);
}

if (args.Length > 0 && args[0] == "postgres-tasks")
{
    return await PostgresTaskBenchmark.RunAsync(args[1..]);
}

if (args.Length > 0 && args[0] == "postgres-ingestion")
{
    return await PostgresIngestionBenchmark.RunAsync(args[1..]);
}

if (args.Length > 0 && args[0] == "ingestion-throughput")
{
    return await IngestionThroughputBenchmark.RunAsync();
}

if (args.Length > 0 && args[0] == "single-flight-allocations")
{
    return await SingleFlightAllocationsHarness.RunAsync(args[1..]);
}

BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
return 0;
