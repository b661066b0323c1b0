using BenchmarkDotNet.Running;
using Coordination.Benchmarks;

// `postgres-batch` runs the closed-loop PostgreSQL harness; anything else goes to BenchmarkDotNet.
if (args.Length > 0 && args[0] == "postgres-batch")
{
    return await PostgresBatchBenchmark.RunAsync(args[1..]);
}

BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
return 0;
