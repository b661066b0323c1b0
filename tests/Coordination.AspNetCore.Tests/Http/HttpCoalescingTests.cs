using System.Net;
using System.Net.Http.Headers;
using Coordination.AspNetCore;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace Coordination.Tests.Http;

public sealed class HttpCoalescingTests
{
    private static Action<SingleFlightPolicyOptions> WithRoleHeader => p => p.EmitRoleHeader = true;

    [Fact]
    public async Task TwoUsersSameUrl_RunTwiceAndEachGetsTheirOwnBody()
    {
        var gate = new Gate();
        await using var app = new CoordinationTestApp(map => map.MapGet("/me", async (HttpContext context) =>
        {
            await gate.PassAsync();
            return context.Request.Headers.Authorization.ToString();
        }).WithSingleFlight(WithRoleHeader));
        var client = app.CreateClient();

        var alice = Send(client, "/me", "Bearer alice");
        var bob = Send(client, "/me", "Bearer bob");
        Gate.WaitUntil(() => gate.Entered == 2, "both users' requests run");
        gate.Open();

        Assert.Equal("Bearer alice", await (await alice).Content.ReadAsStringAsync());
        Assert.Equal("Bearer bob", await (await bob).Content.ReadAsStringAsync());
        Assert.Equal(2, gate.Entered);
    }

    [Fact]
    public async Task SameUser_IsCoalesced_AndSharedAcrossUsersPolicyMergesUsers()
    {
        var gate = new Gate();
        await using var app = new CoordinationTestApp(map =>
        {
            map.MapGet("/mine", async () => { await gate.PassAsync(); return "mine"; }).WithSingleFlight(WithRoleHeader);
            map.MapGet("/public", async () => { await gate.PassAsync(); return "public"; }).WithSingleFlight(p => p.SharedAcrossUsers());
        });
        var client = app.CreateClient();

        var requests = new[] { Send(client, "/mine", "Bearer alice"), Send(client, "/mine", "Bearer alice"), Send(client, "/public", "Bearer alice"), Send(client, "/public", "Bearer bob") };
        Gate.WaitUntil(() => gate.Entered == 2 && WaitingOn(app, "/mine") == 2 && WaitingOn(app, "/public") == 2, "one run per endpoint, two requests in each");
        gate.Open();
        await Task.WhenAll(requests).DefaultTimeout();

        Assert.Equal(2, gate.Entered);
    }

    [Fact]
    public async Task SetCookieResponse_IsNeverReplayed_FollowersRunThemselves()
    {
        var gate = new Gate();
        var runs = 0;
        await using var app = new CoordinationTestApp(map => map.MapGet("/cookie", async (HttpContext context) =>
        {
            var run = Interlocked.Increment(ref runs);
            if (run == 1)
            {
                await gate.PassAsync();
            }

            context.Response.Cookies.Append("session", $"run-{run}");
            return $"run-{run}";
        }).WithSingleFlight(WithRoleHeader));
        var client = app.CreateClient();

        var responses = Enumerable.Range(0, 5).Select(_ => client.GetAsync("/cookie")).ToArray();
        Gate.WaitUntil(() => gate.Entered == 1, "the leader runs");
        Gate.WaitUntil(() => WaitingOn(app, "/cookie") == 5, "five requests share the flight");
        gate.Open();
        var completed = await Task.WhenAll(responses).DefaultTimeout();

        Assert.Equal(5, runs);
        foreach (var response in completed)
        {
            var body = await response.Content.ReadAsStringAsync();
            var cookie = Assert.Single(response.Headers.GetValues("Set-Cookie"));
            Assert.StartsWith($"session={body}", cookie);
            Assert.NotEqual("follower", response.Headers.GetValues("X-SingleFlight").Single());
        }

        Assert.Equal(4, completed.Count(r => r.Headers.GetValues("X-SingleFlight").Single() == "bypass"));
    }

    [Fact]
    public async Task PrivateOrNoStoreOrVaryStar_IsNeverReplayed()
    {
        foreach (var (header, value) in new[] { ("Cache-Control", "private"), ("Cache-Control", "no-store"), ("Vary", "*") })
        {
            var gate = new Gate();
            await using var app = new CoordinationTestApp(map => map.MapGet("/guarded", async (HttpContext context) =>
            {
                await gate.PassAsync();
                context.Response.Headers[header] = value;
                return "ok";
            }).WithSingleFlight(WithRoleHeader));
            var client = app.CreateClient();

            var responses = Enumerable.Range(0, 3).Select(_ => client.GetAsync("/guarded")).ToArray();
            Gate.WaitUntil(() => gate.Entered == 1 && WaitingOn(app, "/guarded") == 3, $"the flight of {header}: {value} holds three requests");
            gate.Open();
            var completed = await Task.WhenAll(responses).DefaultTimeout();

            Assert.Equal(3, gate.Entered);
            Assert.DoesNotContain(completed, r => r.Headers.GetValues("X-SingleFlight").Single() == "follower");
        }
    }

    [Fact]
    public async Task VaryOnHeaderOutsideTheKey_FollowersThatDifferRunThemselves()
    {
        var gate = new Gate();
        await using var app = new CoordinationTestApp(map => map.MapGet("/tenant", async (HttpContext context) =>
        {
            await gate.PassAsync();
            context.Response.Headers.Vary = "X-Tenant";
            return context.Request.Headers["X-Tenant"].ToString();
        }).WithSingleFlight(WithRoleHeader));
        var client = app.CreateClient();

        var leader = SendWith(client, "/tenant", ("X-Tenant", "a"));
        Gate.WaitUntil(() => gate.Entered == 1, "the leader runs");
        var same = SendWith(client, "/tenant", ("X-Tenant", "a"));
        var other = SendWith(client, "/tenant", ("X-Tenant", "b"));
        Gate.WaitUntil(() => WaitingOn(app, "/tenant") == 3, "three requests share the flight");
        gate.Open();

        Assert.Equal("a", await (await leader).Content.ReadAsStringAsync());
        Assert.Equal("a", await (await same).Content.ReadAsStringAsync());
        Assert.Equal("follower", (await same).Headers.GetValues("X-SingleFlight").Single());
        Assert.Equal("b", await (await other).Content.ReadAsStringAsync());
        Assert.Equal("bypass", (await other).Headers.GetValues("X-SingleFlight").Single());
    }

    [Fact]
    public async Task LeaderThrows_EveryClientFailsThroughExceptionHandling_HandlerRanOnce()
    {
        var gate = new Gate();
        await using var app = new CoordinationTestApp(map => map.MapGet("/boom", async Task<string> () =>
        {
            await gate.PassAsync();
            throw new InvalidOperationException("boom");
        }).WithSingleFlight());
        var client = app.CreateClient();

        var responses = Enumerable.Range(0, 3).Select(_ => client.GetAsync("/boom")).ToArray();
        Gate.WaitUntil(() => gate.Entered == 1 && WaitingOn(app, "/boom") == 3, "three requests share the flight");
        gate.Open();
        var completed = await Task.WhenAll(responses).DefaultTimeout();

        Assert.All(completed, r => Assert.Equal(HttpStatusCode.InternalServerError, r.StatusCode));
        Assert.All(completed, r => Assert.Equal("application/problem+json", r.Content.Headers.ContentType?.MediaType));
        Assert.Equal(1, gate.Entered);
    }

    [Fact]
    public async Task LeaderEndsInCancellation_FollowerIsPromotedAndRunsOnItsOwnContext()
    {
        var gate = new Gate();
        var runs = 0;
        await using var app = new CoordinationTestApp(map => map.MapGet("/flaky", async (HttpContext context) =>
        {
            if (Interlocked.Increment(ref runs) == 1)
            {
                await gate.PassAsync();
                throw new OperationCanceledException("the leader's downstream call was cancelled");
            }

            return context.TraceIdentifier;
        }).WithSingleFlight(WithRoleHeader));
        var client = app.CreateClient();

        var leader = client.GetAsync("/flaky");
        Gate.WaitUntil(() => gate.Entered == 1, "the leader runs");
        var followers = Enumerable.Range(0, 3).Select(_ => client.GetAsync("/flaky")).ToArray();
        Gate.WaitUntil(() => WaitingOn(app, "/flaky") == 4, "four requests share the flight");
        gate.Open();

        var promotedBodies = await Task.WhenAll(followers.Select(async f => await (await f).Content.ReadAsStringAsync())).DefaultTimeout();
        Assert.Equal(2, runs);
        Assert.Single(promotedBodies.Distinct());
        var roles = (await Task.WhenAll(followers)).Select(f => f.Headers.GetValues("X-SingleFlight").Single()).ToList();
        Assert.Equal(1, roles.Count(r => r == "leader"));
        Assert.Equal(2, roles.Count(r => r == "follower"));
        await leader.DefaultTimeout();
    }

    [Fact]
    public async Task Timeout_FollowersFailAtOnce_LeaderAnswersWhenItsEndpointEnds()
    {
        var time = new FakeTimeProvider();
        var gate = new Gate();
        await using var app = new CoordinationTestApp(
            map => map.MapGet("/slow-timeout", async () => { await gate.PassAsync(); return "late"; })
                .WithSingleFlight(p => p.Timeout = TimeSpan.FromSeconds(1)),
            services: s => s.AddSingleton<TimeProvider>(time));
        var client = app.CreateClient();

        var leader = client.GetAsync("/slow-timeout");
        Gate.WaitUntil(() => gate.Entered == 1, "the leader runs");
        var follower = client.GetAsync("/slow-timeout");
        Gate.WaitUntil(() => WaitingOn(app, "/slow-timeout") == 2, "two requests share the flight");
        time.Advance(TimeSpan.FromSeconds(1));

        Assert.Equal(HttpStatusCode.InternalServerError, (await follower.DefaultTimeout()).StatusCode);
        Assert.False(leader.IsCompleted);
        gate.Open();
        var leaderResponse = await leader.DefaultTimeout();
        Assert.Equal(HttpStatusCode.OK, leaderResponse.StatusCode);
        Assert.Equal("late", await leaderResponse.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Post_IsCoalescedOnlyWhenThePolicyOptsIn_KeyedByBody()
    {
        var gate = new Gate();
        var optedOutRuns = 0;
        await using var app = new CoordinationTestApp(map =>
        {
            map.MapPost("/search", async (HttpContext context) =>
            {
                await gate.PassAsync();
                using var reader = new StreamReader(context.Request.Body);
                return "found:" + await reader.ReadToEndAsync();
            }).WithSingleFlight(p => p.AllowPost = true);
            map.MapPost("/orders", () => Interlocked.Increment(ref optedOutRuns)).WithSingleFlight();
        });
        var client = app.CreateClient();

        var a1 = client.PostAsync("/search", new StringContent("a"));
        var a2 = client.PostAsync("/search", new StringContent("a"));
        var b = client.PostAsync("/search", new StringContent("b"));
        Gate.WaitUntil(() => gate.Entered == 2 && WaitingOn(app, "/search") == 3, "one run per distinct body");
        gate.Open();

        Assert.Equal("found:a", await (await a1).Content.ReadAsStringAsync());
        Assert.Equal("found:a", await (await a2).Content.ReadAsStringAsync());
        Assert.Equal("found:b", await (await b).Content.ReadAsStringAsync());
        Assert.Equal(2, gate.Entered);

        await Task.WhenAll(client.PostAsync("/orders", null), client.PostAsync("/orders", null));
        Assert.Equal(2, optedOutRuns);
    }

    [Fact]
    public async Task UnrelatedAndOptedOutEndpoints_AreUntouched()
    {
        var gate = new Gate();
        await using var app = new CoordinationTestApp(map =>
        {
            map.MapGet("/plain", async () => { await gate.PassAsync(); return "plain"; });
            var group = map.MapGroup("/grouped").WithSingleFlight(WithRoleHeader);
            group.MapGet("/shared", async () => { await gate.PassAsync(); return "shared"; });
            group.MapGet("/own", async () => { await gate.PassAsync(); return "own"; }).DisableSingleFlight();
        });
        var client = app.CreateClient();

        var plain = Enumerable.Range(0, 3).Select(_ => client.GetAsync("/plain")).ToArray();
        var own = Enumerable.Range(0, 3).Select(_ => client.GetAsync("/grouped/own")).ToArray();
        var shared = Enumerable.Range(0, 3).Select(_ => client.GetAsync("/grouped/shared")).ToArray();
        Gate.WaitUntil(() => gate.Entered == 7 && WaitingOn(app, "/grouped/shared") == 3, "three plain, three opted-out and one shared run");
        gate.Open();
        var all = await Task.WhenAll(plain.Concat(own).Concat(shared)).DefaultTimeout();

        Assert.Equal(7, gate.Entered);
        Assert.All(all.Take(6), r => Assert.False(r.Headers.Contains("X-SingleFlight")));
        var endpoints = app.Services.GetRequiredService<EndpointDataSource>().Endpoints;
        var plainEndpoint = endpoints.OfType<RouteEndpoint>().Single(e => e.RoutePattern.RawText == "/plain");
        Assert.Null(plainEndpoint.Metadata.GetMetadata<SingleFlightEndpointWrappedMetadata>());
    }

    [Fact]
    public async Task AttributeOnMinimalApiHandler_WorksThroughUseSingleFlight()
    {
        var gate = new Gate();
        await using var app = new CoordinationTestApp(
            map => map.MapGet("/attributed", [SingleFlight] async () => { await gate.PassAsync(); return "attributed"; }),
            beforeEndpoints: pipeline => pipeline.UseSingleFlight());
        var client = app.CreateClient();

        var responses = Enumerable.Range(0, 3).Select(_ => client.GetAsync("/attributed")).ToArray();
        Gate.WaitUntil(() => gate.Entered == 1 && app.Policy(null).Group.WaitingCallers == 3, "three requests share the flight");
        gate.Open();
        var completed = await Task.WhenAll(responses).DefaultTimeout();

        Assert.Equal(1, gate.Entered);
        Assert.All(completed, r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
    }

    [Fact]
    public async Task AttributeOnMinimalApiHandler_WithoutUseSingleFlight_FailsAtStartup()
    {
        var error = Assert.IsType<InvalidOperationException>(await StartupFailure.CaptureAsync(app => app.MapGet("/attributed", [SingleFlight] () => "x")));

        Assert.Contains("UseSingleFlight", error.Message);
        Assert.Contains("/attributed", error.Message);
    }

    [Fact]
    public async Task UnknownPolicyName_FailsAtStartup()
    {
        var error = Assert.IsType<InvalidOperationException>(await StartupFailure.CaptureAsync(
            app => app.MapGet("/named", () => "x").WithSingleFlight("nope"),
            coordination: coord => coord.AddSingleFlight("catalog")));

        Assert.Contains("'nope'", error.Message);
        Assert.Contains("catalog", error.Message);
    }

    [Fact]
    public async Task InvalidPolicyOption_FailsAtStartupNamingTheOption()
    {
        var error = Assert.IsType<Microsoft.Extensions.Options.OptionsValidationException>(await StartupFailure.CaptureAsync(
            _ => { },
            coordination: coord => coord.AddSingleFlight("broken", p => p.MaxResponseBodySize = -5)));

        Assert.Contains("'broken'", error.Message);
        Assert.Contains("MaxResponseBodySize", error.Message);
        Assert.Contains("-5", error.Message);
    }

    [Fact]
    public void DuplicatePolicyName_IsRejected()
    {
        var services = new ServiceCollection();

        var error = Assert.Throws<ArgumentException>(() => services.AddKeyedCoordination(coord =>
        {
            coord.AddSingleFlight("same");
            coord.AddSingleFlight("same");
        }));

        Assert.Contains("'same'", error.Message);
    }

    internal static int WaitingOn(CoordinationTestApp app, string pattern)
    {
        var endpoint = app.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>().Single(e => e.RoutePattern.RawText?.TrimStart('/') == pattern.TrimStart('/'));
        var metadata = SingleFlightPolicyProvider.EnabledMetadata(endpoint.Metadata)!;
        return app.Policies.GetPolicy(metadata, endpoint).Group.WaitingCallers;
    }

    private static Task<HttpResponseMessage> Send(HttpClient client, string path, string authorization)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Authorization = AuthenticationHeaderValue.Parse(authorization);
        return client.SendAsync(request);
    }

    private static Task<HttpResponseMessage> SendWith(HttpClient client, string path, (string Name, string Value) header)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Add(header.Name, header.Value);
        return client.SendAsync(request);
    }
}
