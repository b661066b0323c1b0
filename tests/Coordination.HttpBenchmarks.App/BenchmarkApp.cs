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

    /// <summary>The herd endpoint's single-flight policy: the defaults, plus the role header so that the abort client
    /// can tell when it aborted a leader.</summary>
    public const string HerdPolicy = "herd";

    private const string OutputCachePolicy = "locking-no-storage";

    // Scenario 6, once the micro-caching API lands (the lead adds it; see BenchmarkDriver.Scenarios):
    // private const string OutputCache1sPolicy = "locking-1s";   // Expire(TimeSpan.FromSeconds(1)).SetLocking(true)
    // and a variant "sfc" mapped with .WithSingleFlight(policy => policy.CacheFor(TimeSpan.FromSeconds(1))).

    public static async Task<int> RunAsync(string[] args)
    {
        var withCoordination = !args.Contains("--without-coordination");
        var builder = WebApplication.CreateBuilder(args.Where(a => a != "--without-coordination").ToArray());

        // Request logging at Information would measure the console; warnings and errors still show.
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole().SetMinimumLevel(LogLevel.Warning);

        builder.Services.AddSingleton<HandlerRuns>();
        builder.Services.AddSingleton<ActiveFlights>();
        builder.Services.AddOutputCache(options => options.AddPolicy(
            OutputCachePolicy,
            policy => policy.Expire(TimeSpan.FromMilliseconds(1)).SetLocking(true)));
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
        }

        MapVariant(app, OutputCache, runs)
            .Herd(endpoint => endpoint.CacheOutput(OutputCachePolicy))
            .Fast(endpoint => endpoint.CacheOutput(OutputCachePolicy));
        MapVariant(app, Plain, runs)
            .Herd(_ => { })
            .Fast(_ => { });

        app.MapGet("/diag/runs", () => runs.Snapshot());
        app.MapGet("/diag/flights", () => flights.Count);
        app.MapGet("/diag/heap", () => HeapReport.AfterFullCollection(flights.Count));

        await app.RunAsync();
        return 0;
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
            var body = HerdBody.Create(counter.Started());
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
        }
    }
}
