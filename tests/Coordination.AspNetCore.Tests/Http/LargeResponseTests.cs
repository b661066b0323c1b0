using System.Net;
using System.Text;
using Coordination.AspNetCore;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Coordination.Tests.Http;

/// <summary>Bodies larger than <c>MaxResponseBodySize</c>: released at once when declared, streamed when not.</summary>
public sealed class LargeResponseTests
{
    [Fact]
    public async Task DeclaredLengthAboveTheCap_FollowersRunThemselvesAsSoonAsTheResponseStarts()
    {
        var gate = new Gate();
        var restOfLeadersBody = new Gate();
        var runs = 0;
        var bytes = Encoding.UTF8.GetBytes(string.Concat(Enumerable.Range(0, 2_000).Select(i => $"{i:D5}|")));
        await using var app = new CoordinationTestApp(map => map.MapGet("/big", async (HttpContext context) =>
        {
            var first = Interlocked.Increment(ref runs) == 1;
            if (first)
            {
                await gate.PassAsync();
            }

            context.Response.ContentLength = bytes.Length;
            await context.Response.Body.WriteAsync(bytes.AsMemory(0, 1000));
            if (first)
            {
                // The leader's download goes on only once every follower has its own full body.
                await restOfLeadersBody.PassAsync();
            }

            await context.Response.Body.WriteAsync(bytes.AsMemory(1000));
        }).WithSingleFlight(p => { p.MaxResponseBodySize = 4096; p.EmitRoleHeader = true; }));
        var client = app.CreateClient();

        var leader = client.GetAsync("/big");
        Gate.WaitUntil(() => gate.Entered == 1, "the leader runs");
        var followers = Enumerable.Range(0, 3).Select(_ => client.GetAsync("/big")).ToArray();
        Gate.WaitUntil(() => HttpCoalescingTests.WaitingOn(app, "/big") == 4, "four requests share the flight");
        gate.Open();
        var completed = await Task.WhenAll(followers).DefaultTimeout();

        Assert.False(leader.IsCompleted);
        foreach (var response in completed)
        {
            Assert.Equal(bytes, await response.Content.ReadAsByteArrayAsync());
            Assert.Equal("bypass", response.Headers.GetValues("X-SingleFlight").Single());
        }

        restOfLeadersBody.Open();
        Assert.Equal(bytes, await (await leader.DefaultTimeout()).Content.ReadAsByteArrayAsync());
        Assert.Equal(4, runs);
    }

    [Fact]
    public async Task UndeclaredLengthAboveTheCap_StreamsToEveryFollower_EndpointRunsOnce()
    {
        var gate = new Gate();
        var restOfBody = new Gate();
        var bytes = Encoding.UTF8.GetBytes(string.Concat(Enumerable.Range(0, 20_000).Select(i => $"{i:D5}|")));
        await using var app = new CoordinationTestApp(map => map.MapGet("/big", async (HttpContext context) =>
        {
            await gate.PassAsync();
            context.Response.ContentType = "text/plain";
            await context.Response.Body.WriteAsync(bytes.AsMemory(0, 1000));
            await restOfBody.PassAsync();
            for (var offset = 1000; offset < bytes.Length; offset += 1000)
            {
                await context.Response.Body.WriteAsync(bytes.AsMemory(offset, Math.Min(1000, bytes.Length - offset)));
            }
        }).WithSingleFlight(p => { p.MaxResponseBodySize = 4096; p.EmitRoleHeader = true; }));
        var client = app.CreateClient();

        var responses = Enumerable.Range(0, 4).Select(_ => client.GetAsync("/big", HttpCompletionOption.ResponseHeadersRead)).ToArray();
        Gate.WaitUntil(() => gate.Entered == 1 && HttpCoalescingTests.WaitingOn(app, "/big") == 4, "four requests share the flight");
        gate.Open();

        // Every client has the start of the body before the endpoint writes 30 times the cap more.
        var started = await Task.WhenAll(responses).DefaultTimeout();
        restOfBody.Open();

        // Read as real clients do, all at once: the leader's own client paces the endpoint too.
        var bodies = await Task.WhenAll(started.Select(r => r.Content.ReadAsByteArrayAsync())).DefaultTimeout();
        Assert.All(started, r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
        Assert.All(bodies, body => Assert.Equal(bytes, body));

        Assert.Equal(1, gate.Entered);
        Assert.Equal(3, started.Count(r => r.Headers.GetValues("X-SingleFlight").Single() == "follower"));
    }
}
