using System.Diagnostics;
using System.Diagnostics.Tracing;
using System.Globalization;

namespace Coordination.Benchmarks;

/// <summary>
/// What a lone single-flight request allocates, by type: <see cref="SingleFlightPipelineBenchmarks"/>' lone request
/// (with the synchronous or the awaiting endpoint) run 300,000 times under the runtime's allocation sampling (an event
/// about every 100 KB, naming the type allocated then), so each type's share of the bytes is its share of the samples.
/// BenchmarkDotNet's memory diagnoser gives the total; this says where it goes. With <c>--profile</c> it runs the
/// request forty times as often (12 million requests) without sampling, for a CPU profiler (<c>perf record -p</c>) to
/// watch; with <c>--time</c> it times the lone request against the plain endpoint instead (see
/// <see cref="TimeAgainstPlain"/>).
/// </summary>
internal static class SingleFlightAllocationsHarness
{
    private const int Requests = 300_000;

    public static async Task<int> RunAsync(string[] args)
    {
        var awaitingEndpoint = args.Contains("--async");
        var profile = args.Contains("--profile");
        var benchmarks = new SingleFlightPipelineBenchmarks();
        benchmarks.Setup();
        try
        {
            Func<Task> request = awaitingEndpoint ? benchmarks.WithSingleFlight_LoneRequest_AsyncEndpoint : benchmarks.WithSingleFlight_LoneRequest;
            for (var i = 0; i < 20_000; i++)
            {
                // Warm-up: tiered compilation settles before the sampling starts.
                await request();
            }

            if (args.Contains("--time"))
            {
                TimeAgainstPlain(benchmarks, request);
                return 0;
            }

            if (profile)
            {
                for (var i = 0; i < Requests * 40; i++)
                {
                    await request();
                }

                return 0;
            }

            using var listener = new AllocationSampler();
            for (var i = 0; i < Requests; i++)
            {
                await request();
            }

            Console.WriteLine($"Lone request, {(awaitingEndpoint ? "awaiting" : "synchronous")} endpoint; bytes per request by type (sampled):");
            foreach (var (type, bytes) in listener.Snapshot().OrderByDescending(pair => pair.Value))
            {
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{(double)bytes / Requests,8:F1} B  {type}"));
            }

            return 0;
        }
        finally
        {
            benchmarks.Cleanup();
        }
    }

    /// <summary>
    /// What the lone request costs beyond the plain endpoint, per request: batches of each, alternated, so that the
    /// machine's drifting pace (a VM's can move 20% within seconds) hits both alike; the median of the batches'
    /// differences. To compare two builds, run each this way a few times, alternately.
    /// </summary>
    private static void TimeAgainstPlain(SingleFlightPipelineBenchmarks benchmarks, Func<Task> request)
    {
        const int Rounds = 61;
        const int Batch = 20_000;

        // Tiered compilation promotes hot methods in the background, some time after they get hot: both paths run for
        // a few seconds first.
        for (var warm = Stopwatch.StartNew(); warm.Elapsed < TimeSpan.FromSeconds(3);)
        {
            benchmarks.Plain().GetAwaiter().GetResult();
            request().GetAwaiter().GetResult();
        }

        var extra = new double[Rounds];
        var lone = new double[Rounds];
        for (var round = 0; round < Rounds; round++)
        {
            var plain = NanosecondsPerRequest(benchmarks.Plain);
            lone[round] = NanosecondsPerRequest(request);
            extra[round] = lone[round] - plain;
        }

        Array.Sort(extra);
        Array.Sort(lone);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"lone request {lone[Rounds / 2]:F0} ns, of which beyond plain {extra[Rounds / 2]:F0} ns (medians of {Rounds} batches of {Batch})"));

        static double NanosecondsPerRequest(Func<Task> run)
        {
            var started = Stopwatch.GetTimestamp();
            for (var i = 0; i < Batch; i++)
            {
                run().GetAwaiter().GetResult();
            }

            return Stopwatch.GetElapsedTime(started).TotalNanoseconds / Batch;
        }
    }

    private sealed class AllocationSampler : EventListener
    {
        private const EventKeywords GcKeyword = (EventKeywords)0x1;
        private readonly Dictionary<string, long> _bytes = [];

        public Dictionary<string, long> Snapshot()
        {
            lock (_bytes)
            {
                return new Dictionary<string, long>(_bytes);
            }
        }

        protected override void OnEventSourceCreated(EventSource eventSource)
        {
            if (eventSource.Name == "Microsoft-Windows-DotNETRuntime")
            {
                EnableEvents(eventSource, EventLevel.Verbose, GcKeyword);
            }
        }

        protected override void OnEventWritten(EventWrittenEventArgs eventData)
        {
            if (eventData is not { EventName: "GCAllocationTick_V4", Payload: { } payload, PayloadNames: { } names })
            {
                return;
            }

            var type = (string)payload[names.IndexOf("TypeName")]!;
            var bytes = Convert.ToInt64(payload[names.IndexOf("AllocationAmount64")], CultureInfo.InvariantCulture);
            lock (_bytes)
            {
                _bytes[type] = _bytes.GetValueOrDefault(type) + bytes;
            }
        }
    }
}
