using BenchmarkDotNet.Attributes;
using Coordination.AspNetCore;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
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
        _body = new byte[BodyBytes];
    }

    [GlobalCleanup]
    public void Cleanup() => _services.Dispose();

    /// <summary>The key of an anonymous GET with a query and the default vary-by headers.</summary>
    [Benchmark]
    public ValueTask<(string? Key, string? BypassReason)> BuildKey() => _policy.BuildKeyAsync(_request);

    /// <summary>A lone leader's body through the capture stream, in chunks of 4 KiB, with no follower.</summary>
    [Benchmark]
    public async Task CaptureStream_LoneLeader()
    {
        var capture = new ResponseCaptureFeature(
            new StreamResponseBodyFeature(Stream.Null),
            () => CapturedResponse.Shared(200, [], [], new SharedResponseBody(_policy.MaxResponseBodySize, static () => { })));
        for (var offset = 0; offset < _body.Length; offset += ChunkSize)
        {
            await capture.Stream.WriteAsync(_body.AsMemory(offset, Math.Min(ChunkSize, _body.Length - offset)));
        }

        await capture.FinishAsync();
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
