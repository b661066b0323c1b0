using System.Net;
using System.Threading.RateLimiting;
using Coordination.AspNetCore;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.DependencyInjection;

namespace Coordination.Tests.Http;

/// <summary>Output caching and rate limiting in front of a coalesced endpoint: each does its own job, and what a client
/// receives is what the endpoint gives alone.</summary>
public sealed class OutputCacheAndRateLimitingTests
{
    [Fact]
    public async Task OutputCacheOutside_CachesTheSharedResponse_AndServesItAsTheEndpointWouldAlone()
    {
        var gate = new Gate();
        var runs = 0;
        await using var app = new CoordinationTestApp(
            map => Twin.Map(map, "/cached", async (HttpContext context) =>
            {
                Interlocked.Increment(ref runs);
                await Twin.HoldUnlessAlone(context, gate);
                return Results.Text("cached body", "text/plain");
            }).CacheOutput(p => p.Expire(TimeSpan.FromMinutes(5))).WithSingleFlight(),
            services: s => s.AddOutputCache(),
            beforeEndpoints: pipeline => pipeline.UseOutputCache());
        var client = app.CreateClient();

        var first = Enumerable.Range(0, 3).Select(_ => client.GetAsync("/cached")).ToArray();
        Gate.WaitUntil(() => gate.Entered == 1, "one request reaches the endpoint");
        gate.Open();
        var completed = await Task.WhenAll(first).DefaultTimeout();
        var later = await client.GetAsync("/cached");
        var alone = await client.GetAsync("/cached" + Twin.AloneSuffix);

        foreach (var response in completed.Append(later))
        {
            await Twin.AssertSameAsAloneAsync(response, alone, "cached");
        }

        Assert.True(later.Headers.Age is not null, "the later request is served from the output cache");
        Assert.Equal(2, runs); // the coalesced endpoint once, its uncoalesced twin once
    }

    [Fact]
    public async Task RateLimiterOutside_RejectsWhatItRejects_AndTheAdmittedRequestsShareOneRun()
    {
        var gate = new Gate();
        var runs = 0;
        await using var app = new CoordinationTestApp(
            map => map.MapGet("/limited", async () =>
            {
                Interlocked.Increment(ref runs);
                await gate.PassAsync();
                return "limited";
            }).RequireRateLimiting("two").WithSingleFlight(),
            services: s => s.AddRateLimiter(o =>
            {
                o.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
                o.AddConcurrencyLimiter("two", limiter => (limiter.PermitLimit, limiter.QueueLimit) = (2, 0));
            }),
            beforeEndpoints: pipeline => pipeline.UseRateLimiter());
        var client = app.CreateClient();

        var admitted = Enumerable.Range(0, 2).Select(_ => client.GetAsync("/limited")).ToArray();
        Gate.WaitUntil(() => gate.Entered == 1 && HttpCoalescingTests.WaitingOn(app, "/limited") == 2, "two requests share the flight");
        var rejected = await client.GetAsync("/limited").DefaultTimeout();
        gate.Open();

        Assert.Equal(HttpStatusCode.TooManyRequests, rejected.StatusCode);
        foreach (var response in await Task.WhenAll(admitted).DefaultTimeout())
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("limited", await response.Content.ReadAsStringAsync());
        }

        Assert.Equal(1, runs);
    }
}
