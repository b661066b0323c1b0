using System.Diagnostics;
using System.Text.Json;
using Coordination.Ingestion;

namespace Coordination.Benchmarks;

/// <summary>
/// Dispatcher throughput: 100,000 events over 1,000 keys appended up front, a no-op handler, and 0%, 1% or 10% of the keys
/// failing once on their first event (so the key is held until the retry). Reported as events handled per second.
/// </summary>
internal static class IngestionThroughputBenchmark
{
    private const int Events = 100_000;
    private const int Keys = 1_000;

    public static async Task<int> RunAsync()
    {
        Console.WriteLine($"{Events:N0} events over {Keys:N0} keys, in-memory log, no-op handler, retry backoff 1 ms, {Environment.ProcessorCount} cores");
        Console.WriteLine();
        Console.WriteLine("| failing keys | events/s (median of 3) | seconds | retries |");
        Console.WriteLine("|---:|---:|---:|---:|");

        // The first runs in a process are slow (tiered JIT, thread-pool ramp-up): warm up, untimed.
        foreach (var warmUp in new[] { 0, 1, 10 })
        {
            await RunOnceAsync(warmUp);
        }

        foreach (var failingPercent in new[] { 0, 1, 10 })
        {
            var runs = new List<(double Rate, TimeSpan Elapsed, int Retries)>();
            for (var run = 0; run < 3; run++)
            {
                runs.Add(await RunOnceAsync(failingPercent));
            }

            var (rate, elapsed, retries) = runs.OrderBy(r => r.Rate).ElementAt(1);
            Console.WriteLine(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"| {failingPercent}% | {rate:N0} | {elapsed.TotalSeconds:0.00} | {retries:N0} |"));
        }

        return 0;
    }

    private static async Task<(double Rate, TimeSpan Elapsed, int Retries)> RunOnceAsync(int failingPercent)
    {
        var log = new InMemoryEventLog();
        var failing = new HashSet<string>(Enumerable.Range(0, Keys * failingPercent / 100).Select(i => $"k{i * (100 / Math.Max(1, failingPercent))}"));
        var retries = 0;
        var ingestion = new OrderedIngestion<BenchEvent>(
            "bench",
            new OrderedIngestionOptions<BenchEvent>
            {
                KeySelector = e => e.Key,
                RetryBackoff = TimeSpan.FromMilliseconds(1),
                MaxRetryBackoff = TimeSpan.FromMilliseconds(1),
                PollInterval = TimeSpan.FromMilliseconds(1),
                BatchSize = 10_000,
            },
            log,
            (e, context, _) =>
            {
                if (context.Attempt == 1 && e.Sequence == 0 && failing.Contains(e.Key))
                {
                    Interlocked.Increment(ref retries);
                    throw new InvalidOperationException("fails once");
                }

                return Task.CompletedTask;
            },
            JsonSerializerOptions.Web,
            TimeProvider.System,
            shutdownTimeout: TimeSpan.FromMinutes(1),
            metrics: null,
            logger: null);

        var events = Enumerable.Range(0, Events).Select(i => new BenchEvent($"k{i % Keys}", i / Keys)).ToList();
        foreach (var chunk in events.Chunk(10_000))
        {
            await ingestion.AppendAsync(chunk);
        }

        var started = Stopwatch.GetTimestamp();
        ingestion.Start();
        using var poll = new PeriodicTimer(TimeSpan.FromMilliseconds(5));
        while ((await log.ReadPendingAsync(0, 1, CancellationToken.None)).Count > 0)
        {
            await poll.WaitForNextTickAsync();
        }

        var elapsed = Stopwatch.GetElapsedTime(started);
        await ingestion.StopAsync(CancellationToken.None);
        return (Events / elapsed.TotalSeconds, elapsed, retries);
    }

    internal sealed record BenchEvent(string Key, int Sequence);
}
