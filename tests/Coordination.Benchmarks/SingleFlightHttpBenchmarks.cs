using BenchmarkDotNet.Attributes;
using Coordination.AspNetCore;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Coordination.Benchmarks;

/// <summary>The parts of an HTTP single-flight request: the key builder, the leader's capture stream and a follower's replay.</summary>
[MemoryDiagnoser]
public class SingleFlightHttpBenchmarks
{
    private const int ChunkSize = 4096;

    private ServiceProvider _services = null!;
    private SingleFlightPolicy _policy = null!;
    private DefaultHttpContext _request = null!;
    private byte[] _body = null!;
    private Func<HttpContext, Task> _writeBody = null!;

    /// <summary>The response body's size in bytes.</summary>
    [Params(16, 65_536)]
    public int BodyBytes { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _services = new ServiceCollection()
            .AddLogging()
            .AddMetrics()
            .AddKeyedCoordination(_ => { })
            .BuildServiceProvider();
        _policy = _services.GetRequiredService<SingleFlightPolicyProvider>().GetNamedPolicy(null);
        _request = new DefaultHttpContext { RequestServices = _services };
        _request.Request.Method = HttpMethods.Get;
        _request.Request.Scheme = "http";
        _request.Request.Host = new HostString("localhost", 5000);
        _request.Request.Path = "/items/42";
        _request.Request.QueryString = new QueryString("?view=full&id=42");
        _request.Request.Headers.Accept = "application/json";
        _request.Request.Headers.AcceptEncoding = "gzip, br";
        _request.Response.Body = Stream.Null;
        _request.RequestAborted = CancellationToken.None;
        _body = new byte[BodyBytes];
        _writeBody = WriteBodyAsync;
    }

    [GlobalCleanup]
    public void Cleanup() => _services.Dispose();

    /// <summary>The key of an anonymous GET with a query and the default vary-by headers.</summary>
    [Benchmark]
    public ValueTask<(string? Key, string? BypassReason)> BuildKey() => _policy.BuildKeyAsync(_request);

    /// <summary>
    /// A lone leader's run: its endpoint writes the body in chunks of 4 KiB through the capture stream, and no follower
    /// joined. (Before the lazy capture this measured the capture feature with the shared body every leader kept.)
    /// </summary>
    [Benchmark]
    public async Task CaptureStream_LoneLeader()
    {
        var leader = new SingleFlightLeader(_request, _policy, _writeBody, CancellationToken.None);
        await leader.RunAsync(execution: null, CancellationToken.None);
        await leader.Execution!;
        leader.ThrowIfClientLeft();
    }

    private async Task WriteBodyAsync(HttpContext context)
    {
        for (var offset = 0; offset < _body.Length; offset += ChunkSize)
        {
            await context.Response.Body.WriteAsync(_body.AsMemory(offset, Math.Min(ChunkSize, _body.Length - offset)));
        }
    }

    /// <summary>The body written once into a shared body and replayed to one follower.</summary>
    [Benchmark]
    public async Task Replay_OneFollower()
    {
        var body = new SharedResponseBody(_policy.MaxResponseBodySize, static () => { });
        using var reader = body.Subscribe()!;
        for (var offset = 0; offset < _body.Length; offset += ChunkSize)
        {
            await body.AppendAsync(_body.AsMemory(offset, Math.Min(ChunkSize, _body.Length - offset)));
        }

        body.Complete(early: false);
        while (await reader.ReadAsync(CancellationToken.None) is { IsEmpty: false } bytes)
        {
            await Stream.Null.WriteAsync(bytes);
        }
    }
}
