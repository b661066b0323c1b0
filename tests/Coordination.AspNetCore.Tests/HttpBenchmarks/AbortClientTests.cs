using System.Net;
using System.Net.Sockets;
using System.Text;
using Coordination.HttpBenchmarks;
using Coordination.HttpBenchmarks.Driver;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Coordination.Tests.HttpBenchmarks;

/// <summary>
/// The benchmark's abort client (eng/bench-http.sh, scenario 5) against a real Kestrel socket that misbehaves on
/// purpose: its "0 5xx, 0 truncated" is only worth something if it counts each kind of failure it claims to.
/// Every run is as short as it can be: each of the clients sends exactly one request.
/// </summary>
public sealed class AbortClientTests
{
    private const int Clients = 4;

    [Fact]
    public async Task IntactBodies_AreCountedIntact()
    {
        var report = await RunAsync(async context => await WriteAsync(context, HerdBody.Create(1)));

        Assert.Equal(Clients, report.Intact);
        Assert.Equal(0, report.Failures);
    }

    [Fact]
    public async Task ABodyCutShortByAGracefulClose_IsTruncated()
    {
        // Kestrel resets a connection whose response is cut short; a plain socket can end it with a FIN instead.
        using var server = new TcpListener(IPAddress.Loopback, 0);
        server.Start();
        var serving = Task.Run(async () =>
        {
            for (var i = 0; i < Clients; i++)
            {
                using var connection = await server.AcceptSocketAsync();
                var request = new byte[4096];
                var received = 0;
                while (!request.AsSpan(0, received).EndsWith("\r\n\r\n"u8))
                {
                    received += await connection.ReceiveAsync(request.AsMemory(received));
                }

                var head = Encoding.ASCII.GetBytes($"HTTP/1.1 200 OK\r\nContent-Length: {HerdBody.Length}\r\n\r\n");
                await connection.SendAsync(head.Concat(HerdBody.Create(1)[..(HerdBody.Length / 2)]).ToArray());
                connection.Shutdown(SocketShutdown.Send);
            }
        });

        var report = await new AbortClient((IPEndPoint)server.LocalEndpoint, "/herd", Clients, abortFraction: 0)
            .RunAsync(TimeSpan.Zero).DefaultTimeout();
        await serving.DefaultTimeout();

        Assert.Equal(Clients, report.Truncated);
        Assert.Equal(0, report.Intact);
    }

    [Fact]
    public async Task ABodyCutShortByAReset_IsAFailure()
    {
        var report = await RunAsync(async context =>
        {
            context.Response.ContentLength = HerdBody.Length;
            await context.Response.Body.WriteAsync(HerdBody.Create(1).AsMemory(0, HerdBody.Length / 2));
            await context.Response.Body.FlushAsync();
            context.Abort();
        });

        // A reset may discard what had arrived, head included: then it is a connection error, not a truncated body.
        Assert.Equal(Clients, report.Truncated + report.ConnectionErrors);
        Assert.Equal(0, report.Intact);
    }

    [Fact]
    public async Task ABodyMadeOfTwoRuns_IsTruncated()
    {
        var mixed = HerdBody.Create(1)[..(HerdBody.Length / 2)].Concat(HerdBody.Create(2)[(HerdBody.Length / 2)..]).ToArray();

        var report = await RunAsync(async context => await WriteAsync(context, mixed));

        Assert.Equal(Clients, report.Truncated);
        Assert.Equal(0, report.Intact);
    }

    [Fact]
    public async Task A500_IsAServerError()
    {
        var report = await RunAsync(context =>
        {
            context.Response.StatusCode = StatusCodes.Status500InternalServerError;
            return Task.CompletedTask;
        });

        Assert.Equal(Clients, report.ServerErrors);
        Assert.Equal(0, report.Intact);
    }

    [Fact]
    public async Task AbandonedRequests_AreAbortsNotFailures_AndTheServerSeesThem()
    {
        var abortsSeen = 0;
        var everyAbortSeen = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var report = await RunAsync(
            async context =>
            {
                // Half the body, then wait for the client to go: it abandons the request while waiting or mid-body.
                context.Response.ContentLength = HerdBody.Length;
                await context.Response.Body.WriteAsync(HerdBody.Create(1).AsMemory(0, HerdBody.Length / 2));
                await context.Response.Body.FlushAsync();
                await Task.Delay(Timeout.Infinite, context.RequestAborted).ContinueWith(_ => { }, TaskScheduler.Default);
                if (Interlocked.Increment(ref abortsSeen) == Clients)
                {
                    everyAbortSeen.SetResult();
                }
            },
            abortFraction: 1,
            beforeStop: () => everyAbortSeen.Task);

        Assert.Equal(Clients, report.AbortedWhileWaiting + report.AbortedMidResponse);
        Assert.Equal(0, report.Failures);
        Assert.Equal(0, report.Intact);
    }

    private static async Task<AbortReport> RunAsync(RequestDelegate handler, double abortFraction = 0, Func<Task>? beforeStop = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0));
        await using var app = builder.Build();
        app.MapGet("/herd", handler);
        await app.StartAsync().DefaultTimeout();
        var endpoint = IPEndPoint.Parse(new Uri(app.Urls.Single()).Authority);

        var report = await new AbortClient(endpoint, "/herd", Clients, abortFraction).RunAsync(TimeSpan.Zero).DefaultTimeout();
        if (beforeStop is not null)
        {
            await beforeStop().DefaultTimeout();
        }

        return report;
    }

    private static async Task WriteAsync(HttpContext context, byte[] body)
    {
        context.Response.ContentLength = body.Length;
        await context.Response.Body.WriteAsync(body);
    }
}
