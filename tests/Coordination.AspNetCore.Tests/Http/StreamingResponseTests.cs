using System.Net;
using System.Text;
using Coordination.AspNetCore;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Coordination.Tests.Http;

/// <summary>
/// Responses that go on after they start, over a real Kestrel socket (HTTP/1.1, and HTTP/2 as h2c): followers get
/// each part as the endpoint writes it, and the end when the endpoint ends the response.
/// </summary>
public sealed class StreamingResponseTests
{
    public static TheoryData<string> Protocols => ["1.1", "2.0"];

    [Theory]
    [MemberData(nameof(Protocols))]
    public async Task ServerSentEvents_EverySubscriberGetsEachEventAsItIsWritten(string version)
    {
        var joined = new Gate();
        var secondEvent = new Gate();
        await using var app = KestrelApp(version, map => map.MapGet("/events", async (HttpContext context) =>
        {
            await joined.PassAsync();
            context.Response.ContentType = "text/event-stream";
            await context.Response.WriteAsync("data: first\n\n");
            await context.Response.Body.FlushAsync();
            await secondEvent.PassAsync();
            await context.Response.WriteAsync("data: second\n\n");
        }).WithSingleFlight(p => p.EmitRoleHeader = true));
        using var client = Client(app, version);

        var subscribers = Enumerable.Range(0, 2).Select(_ => client.GetAsync("/events", HttpCompletionOption.ResponseHeadersRead)).ToArray();
        Gate.WaitUntil(() => joined.Entered == 1 && HttpCoalescingTests.WaitingOn(app, "/events") == 2, "both subscribers share the flight");
        joined.Open();
        var responses = await Task.WhenAll(subscribers).DefaultTimeout();
        var readers = new List<StreamReader>();
        foreach (var response in responses)
        {
            Assert.Equal(new Version(version), response.Version);
            readers.Add(new StreamReader(await response.Content.ReadAsStreamAsync()));
        }

        // The first event reaches both while the endpoint still holds the second.
        foreach (var reader in readers)
        {
            Assert.Equal("data: first", await reader.ReadLineAsync().DefaultTimeout());
            Assert.Equal(string.Empty, await reader.ReadLineAsync().DefaultTimeout());
        }

        secondEvent.Open();
        foreach (var reader in readers)
        {
            Assert.Equal("data: second\n\n", await reader.ReadToEndAsync().DefaultTimeout());
        }

        Assert.Equal(1, joined.Entered);
        Assert.Equal(["follower", "leader"], responses.Select(r => r.Headers.GetValues("X-SingleFlight").Single()).Order());
    }

    [Theory]
    [MemberData(nameof(Protocols))]
    public async Task LiveFeed_GoesOnWhileAnySubscriberListens_AndTheEndpointSeesRequestAbortedWhenTheLastLeaves(string version)
    {
        var joined = new Gate();
        var secondEvent = new Gate();
        var everyoneLeft = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var app = KestrelApp(version, map => map.MapGet("/feed", async (HttpContext context) =>
        {
            await joined.PassAsync();
            context.Response.ContentType = "text/event-stream";
            await context.Response.WriteAsync("data: first\n\n");
            await context.Response.Body.FlushAsync();
            await secondEvent.PassAsync(context.RequestAborted);
            await context.Response.WriteAsync("data: second\n\n");
            await context.Response.Body.FlushAsync();
            try
            {
                await Task.Delay(Timeout.InfiniteTimeSpan, context.RequestAborted);
            }
            catch (OperationCanceledException)
            {
                everyoneLeft.TrySetResult();
            }
        }).WithSingleFlight(p => p.EmitRoleHeader = true));
        using var client = Client(app, version);

        var subscribers = Enumerable.Range(0, 2).Select(_ => client.GetAsync("/feed", HttpCompletionOption.ResponseHeadersRead)).ToArray();
        Gate.WaitUntil(() => joined.Entered == 1 && HttpCoalescingTests.WaitingOn(app, "/feed") == 2, "both subscribers share the flight");
        joined.Open();
        var responses = await Task.WhenAll(subscribers).DefaultTimeout();
        var leader = responses.Single(r => r.Headers.GetValues("X-SingleFlight").Single() == "leader");
        var follower = responses.Single(r => r != leader);
        var leaderReader = new StreamReader(await leader.Content.ReadAsStreamAsync());
        var followerReader = new StreamReader(await follower.Content.ReadAsStreamAsync());
        Assert.Equal("data: first", await leaderReader.ReadLineAsync().DefaultTimeout());
        Assert.Equal("data: first", await followerReader.ReadLineAsync().DefaultTimeout());

        // The leader's client leaves: the feed goes on for the follower.
        leaderReader.Dispose();
        leader.Dispose();
        secondEvent.Open();
        Assert.Equal(string.Empty, await followerReader.ReadLineAsync().DefaultTimeout());
        Assert.Equal("data: second", await followerReader.ReadLineAsync().DefaultTimeout());
        Assert.False(everyoneLeft.Task.IsCompleted);

        followerReader.Dispose();
        follower.Dispose();
        await everyoneLeft.Task.DefaultTimeout();
    }

    [Theory]
    [MemberData(nameof(Protocols))]
    public async Task CompleteAsync_EndsTheResponseOfEveryClientWhileTheEndpointGoesOn(string version)
    {
        (Gate Start, Gate AfterComplete) lone = (new(), new()), shared = (new(), new());
        await using var app = KestrelApp(version, map => map.MapGet("/done", async (HttpContext context) =>
        {
            var (start, afterComplete) = context.Request.Query.ContainsKey("lone") ? lone : shared;
            await start.PassAsync();
            await context.Response.WriteAsync("done");
            await context.Response.CompleteAsync();
            await afterComplete.PassAsync();
        }).WithSingleFlight(p => p.EmitRoleHeader = true));
        using var client = Client(app, version);

        var loneResponse = client.GetStringAsync("/done?lone");
        lone.Start.Open();
        Assert.Equal("done", await loneResponse.DefaultTimeout());
        Assert.Equal(1, lone.AfterComplete.Entered);

        // An HTTP/1.1 connection takes its next request once the handler ends: let the lone one end first.
        lone.AfterComplete.Open();
        var responses = Enumerable.Range(0, 3).Select(_ => client.GetAsync("/done")).ToArray();
        Gate.WaitUntil(() => HttpCoalescingTests.WaitingOn(app, "/done") == 3 && shared.Start.Entered == 1, "three requests share the flight");
        shared.Start.Open();
        var completed = await Task.WhenAll(responses).DefaultTimeout();

        Assert.Equal(1, shared.AfterComplete.Entered);
        foreach (var response in completed)
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("done", await response.Content.ReadAsStringAsync());
        }

        shared.AfterComplete.Open();
    }

    [Theory]
    [MemberData(nameof(Protocols))]
    public async Task DeclaredLength_FollowersEndOnceTheyHaveItAll_WhileTheEndpointGoesOn(string version)
    {
        var start = new Gate();
        var afterBody = new Gate();
        await using var app = KestrelApp(version, map => map.MapGet("/declared", async (HttpContext context) =>
        {
            await start.PassAsync();
            context.Response.ContentLength = 8;
            await context.Response.WriteAsync("0123");
            await context.Response.WriteAsync("4567");
            await afterBody.PassAsync();
        }).WithSingleFlight(p => p.EmitRoleHeader = true));
        using var client = Client(app, version);

        var leader = client.GetAsync("/declared");
        Gate.WaitUntil(() => start.Entered == 1, "the leader runs");
        var followers = Enumerable.Range(0, 2).Select(_ => client.GetAsync("/declared")).ToArray();
        Gate.WaitUntil(() => HttpCoalescingTests.WaitingOn(app, "/declared") == 3, "three requests share the flight");
        start.Open();
        var completed = await Task.WhenAll(followers).DefaultTimeout();

        // The endpoint has not returned: the followers ended on the length they were told, not on the endpoint's end
        // (an HTTP/1.1 client stops at the length anyway; an HTTP/2 stream ends only when the server ends it).
        Assert.Equal(1, afterBody.Entered);
        foreach (var response in completed)
        {
            Assert.Equal("follower", response.Headers.GetValues("X-SingleFlight").Single());
            Assert.Equal("01234567", await response.Content.ReadAsStringAsync());
        }

        afterBody.Open();
        Assert.Equal("01234567", await (await leader.DefaultTimeout()).Content.ReadAsStringAsync());
    }

    private static CoordinationTestApp KestrelApp(string version, Action<Microsoft.AspNetCore.Routing.IEndpointRouteBuilder> map)
    {
        var app = new CoordinationTestApp(map);
        var protocols = version == "2.0" ? HttpProtocols.Http2 : HttpProtocols.Http1;
        app.UseKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0, listen => listen.Protocols = protocols));
        app.StartServer();
        return app;
    }

    private static HttpClient Client(CoordinationTestApp app, string version)
    {
        var client = app.CreateClient();
        client.DefaultRequestVersion = new Version(version);
        client.DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact;
        return client;
    }
}
