using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using Coordination.AspNetCore;
using Coordination.PostgreSql;
using Coordination.Tasks;
using Hangfire;
using Hangfire.PostgreSql;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;

using static Coordination.Benchmarks.HarnessSupport;

namespace Coordination.Benchmarks;

/// <summary>
/// The task queue on a real PostgreSQL (durable commits), side by side with Hangfire.PostgreSql and pgbench: drain of
/// pre-inserted no-op tasks at 8 and 32 workers, and enqueue→start latency when idle and at a steady 1,000 tasks/s.
/// Both queues get the same worker count and the same connection budget (Maximum Pool Size).
/// </summary>
internal static class PostgresTaskBenchmark
{
    private const string Schema = "bench_tasks";

    public static async Task<int> RunAsync(string[] args)
    {
        var connectionString = Option(args, "--connection") ?? "Host=127.0.0.1;Port=5432;Username=postgres;Password=postgres;Database=coordination";
        var tasks = int.Parse(Option(args, "--tasks") ?? "100000", CultureInfo.InvariantCulture);
        var hangfireTasks = int.Parse(Option(args, "--hangfire-tasks") ?? "20000", CultureInfo.InvariantCulture);
        var budget = int.Parse(Option(args, "--pool") ?? "40", CultureInfo.InvariantCulture);
        connectionString = $"{connectionString};Maximum Pool Size={budget}";
        Console.WriteLine($"PostgreSQL {await ScalarAsync(connectionString, "show server_version")}, fsync={await ScalarAsync(connectionString, "show fsync")}, synchronous_commit={await ScalarAsync(connectionString, "show synchronous_commit")}; connection budget {budget}; {Environment.ProcessorCount} cores");
        Console.WriteLine();
        Console.WriteLine("| drain of pre-inserted no-op tasks | workers | tasks | tasks/s | commits per task |");
        Console.WriteLine("|---|---:|---:|---:|---:|");
        foreach (var workers in new[] { 8, 32 })
        {
            var (rate, commits) = await DrainOursAsync(connectionString, tasks, workers);
            Console.WriteLine(Row("Coordination (PostgreSQL)", workers, tasks, rate, commits));
            Console.WriteLine(Row("Hangfire.PostgreSql 1.21", workers, hangfireTasks, await DrainHangfireAsync(connectionString, hangfireTasks, workers), null));
            Console.WriteLine(Row("pgbench -N (TPS, calibration)", workers, 0, await PgbenchAsync(connectionString, workers), 1));
        }

        Console.WriteLine();
        Console.WriteLine("| enqueue → handler start | load | p50 ms | p99 ms |");
        Console.WriteLine("|---|---|---:|---:|");
        foreach (var (label, latencies) in await LatenciesOursAsync(connectionString))
        {
            Console.WriteLine($"| Coordination (PostgreSQL) | {label} | {Percentile(latencies, 0.5):0.0} | {Percentile(latencies, 0.99):0.0} |");
        }

        var hangfireIdle = await LatencyHangfireIdleAsync(connectionString);
        Console.WriteLine($"| Hangfire.PostgreSql 1.21 | idle, one at a time | {Percentile(hangfireIdle, 0.5):0.0} | {Percentile(hangfireIdle, 0.99):0.0} |");
        return 0;
    }

    private static string Row(string name, int workers, int tasks, double rate, double? commitsPerTask) =>
        string.Create(CultureInfo.InvariantCulture, $"| {name} | {workers} | {(tasks == 0 ? "–" : tasks.ToString("N0", CultureInfo.InvariantCulture))} | {rate:N0} | {(commitsPerTask is { } c ? c.ToString("0.00", CultureInfo.InvariantCulture) : "–")} |");

    /// <returns>Tasks per second, and the database's commits per task during the drain.</returns>
    private static async Task<(double Rate, double CommitsPerTask)> DrainOursAsync(string connectionString, int tasks, int workers)
    {
        await ExecuteAsync(connectionString, $"drop schema if exists {Schema} cascade");
        await ExecuteAsync(connectionString, PostgreSqlSchema.GetMigrationScript(Schema));
        await ExecuteAsync(connectionString, $"insert into {Schema}.tasks (task_group, not_before, ready_at, payload) select 'bench', now(), now(), '\\x' from generate_series(1, {tasks})");
        await ExecuteAsync(connectionString, $"vacuum analyze {Schema}.tasks");

        using var host = BuildHost(connectionString, workers, (_, _) => Task.CompletedTask);
        var commitsBefore = await CommitsAsync(connectionString);
        var started = Stopwatch.GetTimestamp();
        await host.StartAsync();
        await WaitUntilAsync(async () => (long)(await ScalarAsync(connectionString, $"select count(*) from {Schema}.tasks"))! == 0);
        var elapsed = Stopwatch.GetElapsedTime(started);
        var commits = await CommitsAsync(connectionString) - commitsBefore;
        await host.StopAsync();
        return (tasks / elapsed.TotalSeconds, commits / (double)tasks);
    }

    /// <summary>The database's committed transactions so far (the polls of this harness are a few dozen of them).</summary>
    private static async Task<long> CommitsAsync(string connectionString)
    {
        await ExecuteAsync(connectionString, "select pg_stat_clear_snapshot()");
        return (long)(await ScalarAsync(connectionString, "select xact_commit from pg_stat_database where datname = current_database()"))!;
    }

    private static async Task<List<(string Label, List<double> Latencies)>> LatenciesOursAsync(string connectionString)
    {
        await ExecuteAsync(connectionString, $"drop schema if exists {Schema} cascade");
        var startedAt = new ConcurrentDictionary<long, long>();
        var enqueuedAt = new ConcurrentDictionary<long, long>();
        TaskCompletionSource? next = null;
        using var host = BuildHost(connectionString, 8, (task, _) =>
        {
            startedAt[task.Id] = Stopwatch.GetTimestamp();
            next?.TrySetResult();
            return Task.CompletedTask;
        });
        await host.StartAsync();
        var queue = host.Services.GetRequiredKeyedService<TaskQueue>("bench");
        await Task.Delay(TimeSpan.FromSeconds(1)); // the listener connects and probes

        var idle = new List<double>();
        for (var i = 0; i < 300; i++)
        {
            next = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var before = Stopwatch.GetTimestamp();
            var task = await queue.EnqueueAsync(ReadOnlyMemory<byte>.Empty);
            await next.Task.WaitAsync(TimeSpan.FromSeconds(10));
            idle.Add(Stopwatch.GetElapsedTime(before, startedAt[task.Id]).TotalMilliseconds);
        }

        // Open loop: 10 tasks every 10 ms for 10 s, from 10 concurrent producers, whatever the queue does.
        next = null;
        using var ticks = new PeriodicTimer(TimeSpan.FromMilliseconds(10));
        var producers = new List<Task>();
        var until = Stopwatch.GetTimestamp() + (10 * Stopwatch.Frequency);
        while (Stopwatch.GetTimestamp() < until && await ticks.WaitForNextTickAsync())
        {
            producers.Add(Task.WhenAll(Enumerable.Range(0, 10).Select(async _ =>
            {
                var before = Stopwatch.GetTimestamp();
                var task = await queue.EnqueueAsync(ReadOnlyMemory<byte>.Empty);
                enqueuedAt[task.Id] = before;
            })));
        }

        await Task.WhenAll(producers);
        await WaitUntilAsync(() => Task.FromResult(enqueuedAt.Keys.All(startedAt.ContainsKey)));
        var steady = enqueuedAt.Select(e => Stopwatch.GetElapsedTime(e.Value, startedAt[e.Key]).TotalMilliseconds).ToList();
        await host.StopAsync();
        return [("idle, one at a time", idle), ($"steady {enqueuedAt.Count / 10.0:N0}/s", steady)];
    }

    private static IHost BuildHost(string connectionString, int workers, Func<TaskItem, CancellationToken, Task> handle)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton(new NoopHandler(handle));
        builder.Services.AddKeyedCoordination(coord =>
        {
            coord.UsePostgreSql(connectionString, o => o.Schema = Schema);
            coord.AddTaskQueue("bench", o => o.PollInterval = TimeSpan.FromSeconds(1)).AddWorker<NoopHandler>(o => o.Concurrency = workers);
        });
        return builder.Build();
    }

    private static async Task<double> DrainHangfireAsync(string connectionString, int tasks, int workers)
    {
        await ExecuteAsync(connectionString, "drop schema if exists hangfire_bench cascade");
        var storage = HangfireStorage(connectionString);
        var client = new BackgroundJobClient(storage);
        await Parallel.ForAsync(0, tasks, new ParallelOptions { MaxDegreeOfParallelism = 16 }, (_, _) =>
        {
            client.Enqueue(() => HangfireJobs.Noop());
            return ValueTask.CompletedTask;
        });

        var monitoring = storage.GetMonitoringApi();
        var started = Stopwatch.GetTimestamp();
        using (new BackgroundJobServer(new BackgroundJobServerOptions { WorkerCount = workers }, storage))
        {
            await WaitUntilAsync(() => Task.FromResult(monitoring.SucceededListCount() >= tasks));
        }

        return tasks / Stopwatch.GetElapsedTime(started).TotalSeconds;
    }

    private static async Task<List<double>> LatencyHangfireIdleAsync(string connectionString)
    {
        await ExecuteAsync(connectionString, "drop schema if exists hangfire_bench cascade");
        var storage = HangfireStorage(connectionString);
        var client = new BackgroundJobClient(storage);
        var latencies = new List<double>();
        using (new BackgroundJobServer(new BackgroundJobServerOptions { WorkerCount = 8 }, storage))
        {
            for (var i = 0; i < 100; i++)
            {
                HangfireJobs.Started = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
                var before = Stopwatch.GetTimestamp();
                client.Enqueue(() => HangfireJobs.Record());
                var at = await HangfireJobs.Started.Task.WaitAsync(TimeSpan.FromSeconds(30));
                latencies.Add(Stopwatch.GetElapsedTime(before, at).TotalMilliseconds);
            }
        }

        return latencies;
    }

    private static PostgreSqlStorage HangfireStorage(string connectionString)
    {
        var options = new PostgreSqlStorageOptions { SchemaName = "hangfire_bench", PrepareSchemaIfNecessary = true, QueuePollInterval = TimeSpan.FromMilliseconds(100) };
        return new PostgreSqlStorage(new Hangfire.PostgreSql.Factories.NpgsqlConnectionFactory(connectionString, options), options);
    }

    private static async Task<double> PgbenchAsync(string connectionString, int clients)
    {
        var builder = new NpgsqlConnectionStringBuilder(connectionString);
        var environment = new Dictionary<string, string?>
        {
            ["PGHOST"] = builder.Host,
            ["PGPORT"] = builder.Port.ToString(CultureInfo.InvariantCulture),
            ["PGUSER"] = builder.Username,
            ["PGPASSWORD"] = builder.Password,
            ["PGDATABASE"] = builder.Database,
        };
        await RunAsync("pgbench", ["-i", "-q", "-s", "10"], environment);
        var output = await RunAsync("pgbench", ["-N", "-c", $"{clients}", "-j", "2", "-T", "10"], environment);
        var tps = output.Split('\n').First(line => line.StartsWith("tps = ", StringComparison.Ordinal));
        return double.Parse(tps.Split(' ')[2], CultureInfo.InvariantCulture);
    }

    private static async Task<string> RunAsync(string file, string[] arguments, Dictionary<string, string?> environment)
    {
        var start = new ProcessStartInfo(file, arguments) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var (name, value) in environment)
        {
            start.Environment[name] = value;
        }

        using var process = Process.Start(start)!;
        var output = await process.StandardOutput.ReadToEndAsync();
        await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return process.ExitCode == 0 ? output : throw new InvalidOperationException($"{file} exited with {process.ExitCode}");
    }

    private static async Task WaitUntilAsync(Func<Task<bool>> condition)
    {
        using var poll = new PeriodicTimer(TimeSpan.FromMilliseconds(20));
        while (!await condition())
        {
            await poll.WaitForNextTickAsync();
        }
    }

    private sealed class NoopHandler(Func<TaskItem, CancellationToken, Task> handle) : ITaskHandler
    {
        public Task HandleAsync(TaskItem task, CancellationToken cancellationToken) => handle(task, cancellationToken);
    }
}

/// <summary>Hangfire's jobs: static methods it serializes by expression.</summary>
public static class HangfireJobs
{
    internal static TaskCompletionSource<long> Started { get; set; } = new();

    public static void Noop()
    {
    }

    public static void Record() => Started.TrySetResult(Stopwatch.GetTimestamp());
}
