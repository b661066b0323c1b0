using System.Net;
using Coordination.AspNetCore;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.Timeouts;
using Microsoft.Extensions.DependencyInjection;

namespace Coordination.Tests.Http;

/// <summary>The middleware users put around endpoints works the same for coalesced clients as for lone ones.</summary>
public sealed class MiddlewareAroundCoalescingTests
{
    private const string Text = "a body the compression middleware compresses for every client that accepts gzip";

    [Fact]
    public async Task ResponseCompressionOutside_EveryClientGetsTheBodyCompressedForItself()
    {
        var gate = new Gate();
        await using var app = new CoordinationTestApp(
            map => Twin.Map(map, "/text", async (HttpContext context) =>
            {
                await Twin.HoldUnlessAlone(context, gate);
                return Results.Text(Text, "text/plain");
            }).WithSingleFlight(p => p.EmitRoleHeader = true),
            services: s => s.AddResponseCompression(),
            beforeEndpoints: pipeline => pipeline.UseResponseCompression());
        var client = app.CreateClient();

        var responses = Enumerable.Range(0, 3).Select(_ => client.GetWithHeadersAsync("/text", ("Accept-Encoding", "gzip"))).ToArray();
        Gate.WaitUntil(() => gate.Entered == 1 && HttpCoalescingTests.WaitingOn(app, "/text") == 3, "three requests share the flight");
        gate.Open();
        var completed = await Task.WhenAll(responses).DefaultTimeout();
        var alone = await client.GetWithHeadersAsync("/text" + Twin.AloneSuffix, ("Accept-Encoding", "gzip"));

        foreach (var response in completed)
        {
            Assert.Equal("gzip", response.Content.Headers.ContentEncoding.Single());
            await Twin.AssertSameAsAloneAsync(response, alone, response.Headers.GetValues("X-SingleFlight").Single());
        }

        Assert.Equal(2, completed.Count(r => r.Headers.GetValues("X-SingleFlight").Single() == "follower"));
    }

    [Fact]
    public async Task Cors_EachClientGetsItsOwnOriginAllowed_ClientsOfOtherOriginsStillShare()
    {
        var gate = new Gate();
        await using var app = new CoordinationTestApp(
            map => map.MapGet("/public", async () =>
            {
                await gate.PassAsync();
                return "public";
            }).WithSingleFlight(p => p.EmitRoleHeader = true).RequireCors(cors => cors.SetIsOriginAllowed(_ => true)),
            services: s => s.AddCors(),
            beforeEndpoints: pipeline => pipeline.UseCors());
        var client = app.CreateClient();

        var leader = client.GetWithHeadersAsync("/public", ("Origin", "https://a.example"));
        Gate.WaitUntil(() => gate.Entered == 1, "the leader runs");
        var follower = client.GetWithHeadersAsync("/public", ("Origin", "https://b.example"));
        Gate.WaitUntil(() => HttpCoalescingTests.WaitingOn(app, "/public") == 2, "both origins share the flight");
        gate.Open();

        Assert.Equal("https://a.example", (await leader.DefaultTimeout()).Headers.GetValues("Access-Control-Allow-Origin").Single());
        var followed = await follower.DefaultTimeout();
        Assert.Equal("https://b.example", followed.Headers.GetValues("Access-Control-Allow-Origin").Single());
        Assert.Equal("follower", followed.Headers.GetValues("X-SingleFlight").Single());
        Assert.Equal("public", await followed.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task VarySetByOuterMiddlewareForItsOwnHeader_DoesNotKeepFollowersFromSharing()
    {
        var gate = new Gate();
        await using var app = new CoordinationTestApp(
            map => map.MapGet("/localized", async (HttpContext context) =>
            {
                await gate.PassAsync();
                context.Response.Headers.Vary = context.Response.Headers.Vary + ", X-Region";
                return "body for " + context.Request.Headers["X-Region"];
            }).WithSingleFlight(p => p.EmitRoleHeader = true),
            beforeEndpoints: pipeline => pipeline.Use((context, next) =>
            {
                // Like CORS with Origin: the middleware varies its own header by a request header of its own.
                context.Response.Headers.Vary = "X-Client";
                context.Response.Headers["X-Client-Echo"] = context.Request.Headers["X-Client"];
                return next(context);
            }));
        var client = app.CreateClient();

        var leader = client.GetWithHeadersAsync("/localized", ("X-Client", "a"), ("X-Region", "eu"));
        Gate.WaitUntil(() => gate.Entered == 1, "the leader runs");
        var otherClient = client.GetWithHeadersAsync("/localized", ("X-Client", "b"), ("X-Region", "eu"));
        var otherRegion = client.GetWithHeadersAsync("/localized", ("X-Client", "a"), ("X-Region", "us"));
        Gate.WaitUntil(() => HttpCoalescingTests.WaitingOn(app, "/localized") == 3, "three requests share the flight");
        gate.Open();

        var shared = await otherClient.DefaultTimeout();
        Assert.Equal("follower", shared.Headers.GetValues("X-SingleFlight").Single());
        Assert.Equal("b", shared.Headers.GetValues("X-Client-Echo").Single());
        Assert.Equal("body for eu", await shared.Content.ReadAsStringAsync());
        var own = await otherRegion.DefaultTimeout();
        Assert.Equal("bypass", own.Headers.GetValues("X-SingleFlight").Single());
        Assert.Equal("body for us", await own.Content.ReadAsStringAsync());
        Assert.Equal("body for eu", await (await leader.DefaultTimeout()).Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task StatusCodePagesAndHeadersAfterNext_FinishEveryResponseTheEndpointLeftUnstarted()
    {
        var gate = new Gate();
        await using var app = new CoordinationTestApp(
            map => Twin.Map(map, "/missing", async (HttpContext context) =>
            {
                await Twin.HoldUnlessAlone(context, gate);
                return Results.NotFound();
            }).WithSingleFlight(p => p.EmitRoleHeader = true),
            beforeEndpoints: pipeline =>
            {
                pipeline.UseStatusCodePages();
                pipeline.Use(async (context, next) =>
                {
                    await next(context);
                    if (!context.Response.HasStarted)
                    {
                        context.Response.Headers["X-Finished-By"] = "outer middleware";
                    }
                });
            });
        var client = app.CreateClient();

        var responses = Enumerable.Range(0, 3).Select(_ => client.GetWithHeadersAsync("/missing")).ToArray();
        Gate.WaitUntil(() => gate.Entered == 1 && HttpCoalescingTests.WaitingOn(app, "/missing") == 3, "three requests share the flight");
        gate.Open();
        var completed = await Task.WhenAll(responses).DefaultTimeout();
        var alone = await client.GetWithHeadersAsync("/missing" + Twin.AloneSuffix);

        Assert.Equal("application/problem+json", alone.Content.Headers.ContentType?.MediaType);
        foreach (var response in completed)
        {
            var role = response.Headers.GetValues("X-SingleFlight").Single();
            await Twin.AssertSameAsAloneAsync(response, alone, role);
            Assert.Equal("outer middleware", response.Headers.GetValues("X-Finished-By").Single());
        }

        Assert.Equal(1, gate.Entered);
    }

    [Fact]
    public async Task RequestTimeouts_ALoneRequestAndAWaitingFollowerGet504()
    {
        var leaderHeld = new Gate();
        await using var app = new CoordinationTestApp(
            map => map.MapGet("/slow", async (HttpContext context) =>
            {
                if (IsLeader(context))
                {
                    await leaderHeld.PassAsync();
                    return "leader's answer";
                }

                await Task.Delay(Timeout.InfiniteTimeSpan, context.RequestAborted);
                return "never";
            }).WithSingleFlight(p => p.EmitRoleHeader = true).WithRequestTimeout(TimeSpan.FromSeconds(1)),
            services: s => s.AddRequestTimeouts(),
            beforeEndpoints: pipeline =>
            {
                pipeline.UseRequestTimeouts();

                // The leader outlives every timeout; the requests that join it time out while they wait.
                pipeline.Use((context, next) =>
                {
                    if (IsLeader(context))
                    {
                        context.Features.GetRequiredFeature<IHttpRequestTimeoutFeature>().DisableTimeout();
                    }

                    return next(context);
                });
            });
        var client = app.CreateClient();

        var lone = await client.GetWithHeadersAsync("/slow?lone").DefaultTimeout();
        Assert.Equal(HttpStatusCode.GatewayTimeout, lone.StatusCode);

        var leader = client.GetWithHeadersAsync("/slow", ("X-Test-Role", "leader"));
        Gate.WaitUntil(() => leaderHeld.Entered == 1, "the leader runs");
        var follower = await client.GetWithHeadersAsync("/slow").DefaultTimeout();
        Assert.Equal(HttpStatusCode.GatewayTimeout, follower.StatusCode);

        leaderHeld.Open();
        Assert.Equal("leader's answer", await (await leader.DefaultTimeout()).Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task RequestTimeoutsInsideUseSingleFlight_TimeTheSharedRunOut()
    {
        var runs = 0;
        await using var app = new CoordinationTestApp(
            map => map.MapGet("/slow-attributed", [SingleFlight] async (HttpContext context) =>
            {
                Interlocked.Increment(ref runs);
                await Task.Delay(Timeout.InfiniteTimeSpan, context.RequestAborted);
            }).WithRequestTimeout(TimeSpan.FromMilliseconds(50)),
            services: s => s.AddRequestTimeouts(),
            beforeEndpoints: pipeline =>
            {
                pipeline.UseSingleFlight();
                pipeline.UseRequestTimeouts();
            });
        var client = app.CreateClient();

        var response = await client.GetAsync("/slow-attributed").DefaultTimeout();

        Assert.Equal(HttpStatusCode.GatewayTimeout, response.StatusCode);
        Assert.Equal(1, runs);
    }

    [Theory]
    [InlineData("stream")]
    [InlineData("body-writer")]
    [InlineData("send-file")]
    [InlineData("synchronous")]
    [InlineData("synchronous-not-allowed")]
    public async Task EveryWayToWriteTheBody_GivesFollowersWhatTheEndpointGivesAlone(string how)
    {
        var gate = new Gate();
        var file = Path.GetTempFileName();
        await File.WriteAllTextAsync(file, Text);
        try
        {
            await using var app = new CoordinationTestApp(map => Twin.Map(map, "/written", async (HttpContext context) =>
            {
                await Twin.HoldUnlessAlone(context, gate);
                var bytes = System.Text.Encoding.UTF8.GetBytes(Text);
                context.Response.ContentType = "text/plain";
                switch (how)
                {
                    case "stream":
                        await context.Response.Body.WriteAsync(bytes);
                        break;
                    case "body-writer":
                        await context.Response.BodyWriter.WriteAsync(bytes);
                        break;
                    case "send-file":
                        await context.Response.SendFileAsync(file);
                        break;
                    case "synchronous":
                        context.Features.GetRequiredFeature<IHttpBodyControlFeature>().AllowSynchronousIO = true;
                        context.Response.Body.Write(bytes);
                        break;
                    case "synchronous-not-allowed":
                        context.Response.Body.Write(bytes);
                        break;
                }
            }).WithSingleFlight(p => p.EmitRoleHeader = true));
            var client = app.CreateClient();

            var responses = Enumerable.Range(0, 3).Select(_ => client.GetWithHeadersAsync("/written")).ToArray();
            Gate.WaitUntil(() => gate.Entered == 1 && HttpCoalescingTests.WaitingOn(app, "/written") == 3, "three requests share the flight");
            gate.Open();
            var completed = await Task.WhenAll(responses).DefaultTimeout();
            var alone = await client.GetWithHeadersAsync("/written" + Twin.AloneSuffix);

            foreach (var response in completed)
            {
                await Twin.AssertSameAsAloneAsync(response, alone, how);
            }

            Assert.Equal(1, gate.Entered);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Theory]
    [InlineData("abort")]
    [InlineData("throw")]
    public async Task FailureAfterTheResponseStarted_FailsEveryClientAsItWouldAlone(string how)
    {
        var gate = new Gate();
        await using var app = new CoordinationTestApp(map => Twin.Map(map, "/aborted", async (HttpContext context) =>
        {
            await Twin.HoldUnlessAlone(context, gate);
            await context.Response.WriteAsync("partial");
            await context.Response.Body.FlushAsync();
            if (how == "throw")
            {
                throw new InvalidOperationException("the endpoint failed after its response started");
            }

            context.Abort();
        }).WithSingleFlight(p => p.EmitRoleHeader = true));
        var client = app.CreateClient();

        var responses = Enumerable.Range(0, 3).Select(_ => client.GetWithHeadersAsync("/aborted")).ToArray();
        Gate.WaitUntil(() => gate.Entered == 1 && HttpCoalescingTests.WaitingOn(app, "/aborted") == 3, "three requests share the flight");
        gate.Open();

        await Assert.ThrowsAnyAsync<Exception>(() => client.GetWithHeadersAsync("/aborted" + Twin.AloneSuffix)).DefaultTimeout();
        foreach (var response in responses)
        {
            await Assert.ThrowsAnyAsync<Exception>(() => response).DefaultTimeout();
        }

        Assert.Equal(1, gate.Entered);
    }

    private static bool IsLeader(HttpContext context) => context.Request.Headers["X-Test-Role"] == "leader";
}
