using Coordination.AspNetCore;

namespace Coordination.HttpBenchmarks;

/// <summary>
/// The app under load. Each variant of the same endpoints sits under its own URL prefix:
/// <c>/sf/…</c> with <c>.WithSingleFlight()</c>, <c>/oc/…</c> with OutputCache (locking on, storage effectively off:
/// entries expire after 1 ms), <c>/plain/…</c> with neither. <c>--without-coordination</c> starts the same app without
/// <c>AddKeyedCoordination</c>/<c>UseSingleFlight</c> (and so without <c>/sf/…</c>), to measure what registering the
/// library costs endpoints that do not use it.
/// </summary>
internal static class BenchmarkApp
{
    public const string SingleFlight = "sf";
    public const string OutputCache = "oc";
    public const string Plain = "plain";

    /// <summary>Scenario 2's control: the plain endpoints again, under a second prefix, so that the scenario measures
    /// what it can tell apart (two identical endpoints) beside what single-flight costs.</summary>
    public const string PlainControl = "plain2";

    /// <summary>The herd endpoint's single-flight policy: the defaults, plus the role header so that the abort client
    /// can tell when it aborted a leader.</summary>
    public const string HerdPolicy = "herd";

    /// <summary>Scenario 6: single-flight that keeps a response for 1 s (<c>CacheFor</c>), and OutputCache that
    /// stores it for 1 s with locking.</summary>
    public const string SingleFlightCached = "sfc";
    public const string OutputCacheOneSecond = "oc1s";

    private const string OutputCachePolicy = "locking-no-storage";
    private const string OutputCacheOneSecondPolicy = "locking-1s";

    private const string AlsoWithoutCoordination = "--also-without-coordination";

    public static async Task<int> RunAsync(string[] args)
    {
        var appArgs = new List<string>();
        var alsoWithout = new List<string>();
        for (var i = 0; i < args.Length; i++)
        {
            if (args[i] == AlsoWithoutCoordination && i + 1 < args.Length)
            {
                alsoWithout.Add(args[++i]);
            }
            else
            {
                appArgs.Add(args[i]);
            }
        }

        WebApplication[] apps =
        [
            Build([.. appArgs.Where(a => a != "--without-coordination")], withCoordination: !appArgs.Contains("--without-coordination")),
            .. alsoWithout.Select(url => Build(["--urls", url], withCoordination: false)),
        ];
        // When one app stops (or fails to start: say, another process took its port), the others stop too, so that the
        // process ends and the driver sees it.
        var runs = apps.Select(app => app.RunAsync()).ToArray();
        var first = await Task.WhenAny(runs);
        try
        {
            await Task.WhenAll(apps.Select(app => app.StopAsync()));
        }
        finally
        {
            // The first app's own failure, if it failed, is the one to report.
            await first;
        }

        return 0;
    }

    private static WebApplication Build(string[] args, bool withCoordination)
    {
        var builder = WebApplication.CreateBuilder(args);

        // Request logging at Information would measure the console; warnings and errors still show.
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole().SetMinimumLevel(LogLevel.Warning);

        builder.Services.AddSingleton<HandlerRuns>();
        builder.Services.AddSingleton<ActiveFlights>();
        builder.Services.AddOutputCache(options =>
        {
            options.AddPolicy(OutputCachePolicy, policy => policy.Expire(TimeSpan.FromMilliseconds(1)).SetLocking(true));
            options.AddPolicy(OutputCacheOneSecondPolicy, policy => policy.Expire(TimeSpan.FromSeconds(1)).SetLocking(true));
        });
        if (withCoordination)
        {
            builder.Services.AddKeyedCoordination(coord => coord.AddSingleFlight(HerdPolicy, policy => policy.EmitRoleHeader = true));
        }

        var app = builder.Build();
        var runs = app.Services.GetRequiredService<HandlerRuns>();
        var flights = app.Services.GetRequiredService<ActiveFlights>();

        app.UseRouting();
        app.UseOutputCache();
        if (withCoordination)
        {
            // As an app with [SingleFlight] controllers has it: every request passes the middleware.
            app.UseSingleFlight();
            MapVariant(app, SingleFlight, runs)
                .Herd(endpoint => endpoint.WithSingleFlight(HerdPolicy))
                .Fast(endpoint => endpoint.WithSingleFlight());
            MapVariant(app, SingleFlightCached, runs)
                .Herd(endpoint => endpoint.WithSingleFlight(policy => policy.CacheFor(TimeSpan.FromSeconds(1))))
                .Fast(endpoint => endpoint.WithSingleFlight(policy => policy.CacheFor(TimeSpan.FromSeconds(1))));
        }

        MapVariant(app, OutputCache, runs)
            .Herd(endpoint => endpoint.CacheOutput(OutputCachePolicy))
            .Fast(endpoint => endpoint.CacheOutput(OutputCachePolicy));
        MapVariant(app, OutputCacheOneSecond, runs)
            .Herd(endpoint => endpoint.CacheOutput(OutputCacheOneSecondPolicy))
            .Fast(endpoint => endpoint.CacheOutput(OutputCacheOneSecondPolicy));
        MapVariant(app, Plain, runs)
            .Herd(_ => { })
            .Fast(_ => { });
        MapVariant(app, PlainControl, runs)
            .Fast(_ => { });

        app.MapGet("/diag/runs", () => runs.Snapshot());
        app.MapGet("/diag/flights", () => flights.Count);
        app.MapGet("/diag/heap", () => HeapReport.AfterFullCollection(flights.Count));
        app.MapGet("/diag/process", ProcessReport.Now);
        return app;
    }

    private static VariantEndpoints MapVariant(WebApplication app, string variant, HandlerRuns runs) =>
        new(app.MapGroup("/" + variant), variant, runs);

    /// <summary>Maps one variant's endpoints; each takes that variant's convention.</summary>
    private sealed class VariantEndpoints(RouteGroupBuilder group, string variant, HandlerRuns runs)
    {
        /// <summary><c>GET /{variant}/herd</c>: about 50 ms, like a slow query, honouring <c>RequestAborted</c> as a
        /// real handler passes it to its database call. The body (<see cref="HerdBody"/>) goes out in two halves,
        /// 25 ms apart, so a client can abort in the middle of a response.</summary>
        public VariantEndpoints Herd(Action<IEndpointConventionBuilder> convention)
        {
            var counter = runs.For(variant + "/herd");
            convention(group.MapGet("/herd", (HttpContext context) => HerdAsync(context, counter)));
            return this;
        }

        /// <summary><c>GET /{variant}/fast</c>: answers at once; every query string is a key of its own.</summary>
        public VariantEndpoints Fast(Action<IEndpointConventionBuilder> convention)
        {
            var counter = runs.For(variant + "/fast");
            convention(group.MapGet("/fast", () =>
            {
                counter.Started();
                return "ok";
            }));
            return this;
        }

        private static async Task HerdAsync(HttpContext context, HandlerRuns.Counter counter)
        {
            var body = HerdBody.Create(counter.StartedTimed());
            var aborted = context.RequestAborted;
            try
            {
                context.Response.ContentType = "text/plain";
                context.Response.ContentLength = body.Length;
                await Task.Delay(25, aborted);
                await context.Response.Body.WriteAsync(body.AsMemory(0, body.Length / 2), aborted);
                await context.Response.Body.FlushAsync(aborted);
                await Task.Delay(25, aborted);
                await context.Response.Body.WriteAsync(body.AsMemory(body.Length / 2), aborted);
            }
            catch (OperationCanceledException) when (aborted.IsCancellationRequested)
            {
                counter.WasCanceled();
                throw;
            }
            finally
            {
                counter.Ended();
            }
        }
    }
}
