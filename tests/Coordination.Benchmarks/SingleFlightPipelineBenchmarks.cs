using BenchmarkDotNet.Attributes;
using Coordination.AspNetCore;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Coordination.Benchmarks;

/// <summary>
/// One request with nothing to coalesce, through the whole single-flight pipeline on a <see cref="DefaultHttpContext"/>
/// (no sockets): a fast endpoint with no single-flight, the same endpoint in an app where single-flight is registered,
/// and the endpoint under single-flight as a lone request; then the same with an endpoint that awaits before it
/// writes (as one that reads a database does), so that its response starts after the flight began waiting for it.
/// </summary>
[MemoryDiagnoser]
public class SingleFlightPipelineBenchmarks
{
    private static readonly byte[] Body = "Hello, World!"u8.ToArray();

    private readonly CancellationTokenSource _clientAborted = new();
    private ServiceProvider _services = null!;
    private SingleFlightMiddleware _middleware = null!;
    private SingleFlightMiddleware _middlewareAsync = null!;
    private DefaultHttpContext _plain = null!;
    private DefaultHttpContext _withoutSingleFlight = null!;
    private DefaultHttpContext _withSingleFlight = null!;
    private DefaultHttpContext _plainAsync = null!;
    private DefaultHttpContext _withSingleFlightAsync = null!;
    private int _requests;

    [GlobalSetup]
    public void Setup()
    {
        _services = new ServiceCollection()
            .AddLogging()
            .AddMetrics()
            .AddKeyedCoordination(_ => { })
            .BuildServiceProvider();
        _middleware = new SingleFlightMiddleware(Endpoint, _services.GetRequiredService<SingleFlightPolicyProvider>());
        _middlewareAsync = new SingleFlightMiddleware(AsyncEndpoint, _services.GetRequiredService<SingleFlightPolicyProvider>());
        _plain = NewContext(new EndpointMetadataCollection());
        _withoutSingleFlight = NewContext(new EndpointMetadataCollection());
        _withSingleFlight = NewContext(new EndpointMetadataCollection(new SingleFlightAttribute()));
        _plainAsync = NewContext(new EndpointMetadataCollection(), AsyncEndpoint);
        _withSingleFlightAsync = NewContext(new EndpointMetadataCollection(new SingleFlightAttribute()), AsyncEndpoint);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _services.Dispose();
        _clientAborted.Dispose();
    }

    [Benchmark(Baseline = true)]
    public Task Plain() => Endpoint(Next(_plain));

    [Benchmark]
    public Task Registered_EndpointWithoutSingleFlight() => _middleware.InvokeAsync(Next(_withoutSingleFlight));

    [Benchmark]
    public Task WithSingleFlight_LoneRequest() => _middleware.InvokeAsync(Next(_withSingleFlight));

    [Benchmark]
    public Task Plain_AsyncEndpoint() => AsyncEndpoint(Next(_plainAsync));

    [Benchmark]
    public Task WithSingleFlight_LoneRequest_AsyncEndpoint() => _middlewareAsync.InvokeAsync(Next(_withSingleFlightAsync));

    /// <summary>The endpoint after a yield to the thread pool, as after an awaited call that did not complete at once.</summary>
    private static async Task AsyncEndpoint(HttpContext context)
    {
        await Task.Yield();
        await Endpoint(context);
    }

    /// <summary>The endpoint: a small text body written through the response's pipe writer, as minimal APIs do.</summary>
    private static async Task Endpoint(HttpContext context)
    {
        context.Response.ContentType = "text/plain";
        await context.Response.BodyWriter.WriteAsync(Body);
    }

    /// <summary>A unique URL per request, as in the wrk overhead run.</summary>
    private DefaultHttpContext Next(DefaultHttpContext context)
    {
        // Each request starts with no response headers, as on a server.
        context.Response.Headers.Clear();
        context.Request.QueryString = new QueryString("?id=" + (++_requests).ToString(System.Globalization.CultureInfo.InvariantCulture));
        return context;
    }

    private DefaultHttpContext NewContext(EndpointMetadataCollection metadata, RequestDelegate? endpoint = null)
    {
        var context = new DefaultHttpContext { RequestServices = _services };
        context.Request.Method = HttpMethods.Get;
        context.Request.Scheme = "http";
        context.Request.Host = new HostString("localhost", 5000);
        context.Request.Path = "/items";
        context.Request.Headers.Accept = "application/json";
        context.Request.Headers.AcceptEncoding = "gzip, br";
        context.Response.Body = Stream.Null;

        // Kestrel's RequestAborted can always be cancelled; the default context's cannot.
        context.RequestAborted = _clientAborted.Token;
        context.SetEndpoint(new Endpoint(endpoint ?? Endpoint, metadata, "items"));
        return context;
    }
}
