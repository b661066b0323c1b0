using System.Diagnostics;
using Coordination.Batching;
using Npgsql;

namespace Coordination.Benchmarks;

/// <summary>
/// 256 closed-loop clients incrementing counters in a real PostgreSQL (durable commits on): one UPDATE per request
/// against a batch processor (group commit, and a 10 ms window). Not BenchmarkDotNet: a database workload with many
/// concurrent clients needs a load harness that reports throughput, latency percentiles and round trips.
/// </summary>
internal static class PostgresBatchBenchmark
{
    private const int Clients = 256;

    public static async Task<int> RunAsync(string[] args)
    {
        var connectionString = Option(args, "--connection")
            ?? "Host=127.0.0.1;Port=5432;Username=postgres;Password=postgres;Database=coordination;Maximum Pool Size=64";
        var measure = TimeSpan.FromSeconds(int.Parse(Option(args, "--seconds") ?? "8", System.Globalization.CultureInfo.InvariantCulture));
        var warmUp = TimeSpan.FromSeconds(2);
        await using var database = NpgsqlDataSource.Create(connectionString);
        await ExecuteAsync(database, "CREATE TABLE IF NOT EXISTS bench_counters (id text PRIMARY KEY, value bigint NOT NULL)");

        Console.WriteLine($"{Clients} clients, {warmUp.TotalSeconds:0} s warm-up, {measure.TotalSeconds:0} s measured per row; {connectionString.Split(';').First(p => p.StartsWith("Maximum Pool", StringComparison.Ordinal))}");
        Console.WriteLine();
        Console.WriteLine("| counters | callers per counter | mode | ops/s | p50 ms | p99 ms | round trips per op | ops per save | sum check |");
        Console.WriteLine("|---:|---:|---|---:|---:|---:|---:|---:|---|");
        foreach (var keys in new[] { 8, 1, Clients })
        {
            foreach (var mode in new[] { Mode.PerRequestUpdate, Mode.GroupCommit, Mode.Window10Ms })
            {
                var row = await RunCellAsync(database, keys, mode, warmUp, measure);
                Console.WriteLine(row);
            }
        }

        return 0;
    }

    private static async Task<string> RunCellAsync(NpgsqlDataSource database, int keyCount, Mode mode, TimeSpan warmUp, TimeSpan measure)
    {
        var keys = Enumerable.Range(0, keyCount).Select(i => $"counter-{i}").ToArray();
        await ExecuteAsync(database, "TRUNCATE bench_counters");
        foreach (var key in keys)
        {
            await ExecuteAsync(database, "INSERT INTO bench_counters (id, value) VALUES ($1, 0)", key);
        }

        long roundTrips = 0;
        long saves = 0;
        long acknowledged = 0;
        BatchProcessor<CounterRow>? processor = mode == Mode.PerRequestUpdate ? null : new BatchProcessor<CounterRow>(new BatchProcessorOptions<CounterRow>
        {
            MinDuration = mode == Mode.Window10Ms ? TimeSpan.FromMilliseconds(10) : TimeSpan.Zero,
            MaxDuration = TimeSpan.FromSeconds(5),
            LoadResource = async (key, ct) =>
            {
                Interlocked.Increment(ref roundTrips);
                await using var command = database.CreateCommand("SELECT value FROM bench_counters WHERE id = $1");
                command.Parameters.AddWithValue(key);
                return new CounterRow { Value = (long)(await command.ExecuteScalarAsync(ct))! };
            },
            SaveResource = async (key, row, ct) =>
            {
                Interlocked.Increment(ref roundTrips);
                Interlocked.Increment(ref saves);
                await using var command = database.CreateCommand("UPDATE bench_counters SET value = $2 WHERE id = $1");
                command.Parameters.AddWithValue(key);
                command.Parameters.AddWithValue(row.Value);
                await command.ExecuteNonQueryAsync(ct);
            },
        });

        var measuring = false;
        var stop = false;
        long measuredRoundTrips = 0;
        long measuredSaves = 0;
        var latencies = new List<long>[Clients];
        var clients = Enumerable.Range(0, Clients).Select(client => Task.Run(async () =>
        {
            var key = keys[client % keyCount];
            var own = latencies[client] = new List<long>(capacity: 100_000);
            while (!Volatile.Read(ref stop))
            {
                var started = Stopwatch.GetTimestamp();
                if (processor is null)
                {
                    Interlocked.Increment(ref roundTrips);
                    await ExecuteAsync(database, "UPDATE bench_counters SET value = value + 1 WHERE id = $1", key);
                }
                else
                {
                    await processor.RunAsync(key, row => row.Value++);
                }

                Interlocked.Increment(ref acknowledged);
                if (Volatile.Read(ref measuring))
                {
                    own.Add(Stopwatch.GetTimestamp() - started);
                }
            }
        })).ToArray();

        await Task.Delay(warmUp);
        var roundTripsBefore = Interlocked.Read(ref roundTrips);
        var savesBefore = Interlocked.Read(ref saves);
        Volatile.Write(ref measuring, true);
        var measureStarted = Stopwatch.GetTimestamp();
        await Task.Delay(measure);
        Volatile.Write(ref measuring, false);
        var elapsed = Stopwatch.GetElapsedTime(measureStarted);
        measuredRoundTrips = Interlocked.Read(ref roundTrips) - roundTripsBefore;
        measuredSaves = Interlocked.Read(ref saves) - savesBefore;
        Volatile.Write(ref stop, true);
        await Task.WhenAll(clients);
        if (processor is not null)
        {
            await processor.StopAsync();
        }

        var all = latencies.SelectMany(l => l).Order().ToArray();
        var ops = all.Length;
        var sum = (long)(await ScalarAsync(database, "SELECT COALESCE(sum(value), 0)::bigint FROM bench_counters"))!;
        var check = sum == Interlocked.Read(ref acknowledged) ? "ok" : $"MISMATCH {sum} != {acknowledged}";
        var opsPerSave = processor is null ? "1" : (ops / (double)Math.Max(1, measuredSaves)).ToString("0.0", System.Globalization.CultureInfo.InvariantCulture);
        return string.Create(
            System.Globalization.CultureInfo.InvariantCulture,
            $"| {keyCount} | {Clients / keyCount} | {Describe(mode)} | {ops / elapsed.TotalSeconds:N0} | {Percentile(all, 0.50):0.0} | {Percentile(all, 0.99):0.0} | {measuredRoundTrips / (double)Math.Max(1, ops):0.000} | {opsPerSave} | {check} |");
    }

    private static double Percentile(long[] sorted, double quantile) =>
        sorted.Length == 0 ? 0 : TimeSpan.FromTicks((long)(sorted[(int)Math.Min(sorted.Length - 1, quantile * sorted.Length)] * ((double)TimeSpan.TicksPerSecond / Stopwatch.Frequency))).TotalMilliseconds;

    private static string Describe(Mode mode) => mode switch
    {
        Mode.PerRequestUpdate => "one UPDATE per request",
        Mode.GroupCommit => "batched, group commit",
        _ => "batched, 10 ms window",
    };

    private static async Task ExecuteAsync(NpgsqlDataSource database, string sql, params object[] parameters)
    {
        await using var command = database.CreateCommand(sql);
        foreach (var parameter in parameters)
        {
            command.Parameters.AddWithValue(parameter);
        }

        await command.ExecuteNonQueryAsync();
    }

    private static async Task<object?> ScalarAsync(NpgsqlDataSource database, string sql)
    {
        await using var command = database.CreateCommand(sql);
        return await command.ExecuteScalarAsync();
    }

    private static string? Option(string[] args, string name)
    {
        var index = Array.IndexOf(args, name);
        return index >= 0 && index + 1 < args.Length ? args[index + 1] : null;
    }

    private enum Mode
    {
        PerRequestUpdate,
        GroupCommit,
        Window10Ms,
    }

    private sealed class CounterRow
    {
        public long Value { get; set; }
    }
}
