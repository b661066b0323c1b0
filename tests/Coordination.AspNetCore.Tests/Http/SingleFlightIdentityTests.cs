using System.Security.Claims;
using Coordination.AspNetCore;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Coordination.Tests.Http;

/// <summary>Who may share whose response: never two users, whatever the authentication scheme.</summary>
public sealed class SingleFlightIdentityTests
{
    [Fact]
    public async Task SignedInBySubClaimOnly_EachUserGetsTheirOwnData_SameUserIsCoalesced()
    {
        var gate = new Gate();
        await using var app = ApiKeyApp("sub", gate, policy => { });

        await AssertOneRunPerUserAsync(app, gate);
    }

    [Fact]
    public async Task SignedInWithoutAnIdentifyingClaim_IsNeverShared()
    {
        var gate = new Gate();
        await using var app = ApiKeyApp(ClaimTypes.Email, gate, policy => { });
        var client = app.CreateClient();

        var alice = client.GetWithHeadersAsync("/account", ("X-Api-Key", "alice"));
        var bob = client.GetWithHeadersAsync("/account", ("X-Api-Key", "bob"));
        Gate.WaitUntil(() => gate.Entered == 2, "both requests run");
        gate.Open();

        Assert.Equal("alice", await Body(alice));
        Assert.Equal("bob", await Body(bob));
        Assert.Equal("bypass", (await bob).Headers.GetValues("X-SingleFlight").Single());
    }

    [Fact]
    public async Task UserIdClaimType_NamesTheClaimThatIdentifiesUsers()
    {
        var gate = new Gate();
        await using var app = ApiKeyApp(ClaimTypes.Email, gate, policy => policy.UserIdClaimType = ClaimTypes.Email);

        await AssertOneRunPerUserAsync(app, gate);
    }

    [Fact]
    public async Task VaryByValueThatTellsUsersApart_LetsUsersWithoutAnIdentifyingClaimShare()
    {
        var gate = new Gate();
        await using var app = ApiKeyApp(ClaimTypes.Email, gate, policy => policy.VaryByValue(context => context.User.FindFirst(ClaimTypes.Email)?.Value ?? ""));

        await AssertOneRunPerUserAsync(app, gate);
    }

    [Fact]
    public async Task VaryByAuthorizationOrCookie_SignedInUserWithOtherCredentials_RunsItself()
    {
        var gate = new Gate();
        await using var app = new CoordinationTestApp(
            map => map.MapGet("/scoped", async (HttpContext context) =>
            {
                await gate.PassAsync();
                context.Response.Headers.Vary = "Authorization, Cookie";
                return $"{context.Request.Headers.Authorization}|{context.Request.Headers.Cookie}";
            }).WithSingleFlight(p => p.EmitRoleHeader = true),
            services: s => ApiKeyAuthentication.Add(s, ClaimTypes.NameIdentifier),
            beforeEndpoints: pipeline => pipeline.UseAuthentication());
        var client = app.CreateClient();
        (string, string) alice = ("X-Api-Key", "alice");

        var leader = client.GetWithHeadersAsync("/scoped", alice, ("Authorization", "Scope read"), ("Cookie", "c=1"));
        Gate.WaitUntil(() => gate.Entered == 1, "the leader runs");
        var same = client.GetWithHeadersAsync("/scoped", alice, ("Authorization", "Scope read"), ("Cookie", "c=1"));
        var otherToken = client.GetWithHeadersAsync("/scoped", alice, ("Authorization", "Scope write"), ("Cookie", "c=1"));
        var otherCookie = client.GetWithHeadersAsync("/scoped", alice, ("Authorization", "Scope read"), ("Cookie", "c=2"));
        Gate.WaitUntil(() => HttpCoalescingTests.WaitingOn(app, "/scoped") == 4, "the same user's four requests share the flight");
        gate.Open();

        Assert.Equal("Scope read|c=1", await Body(leader));
        Assert.Equal("Scope read|c=1", await Body(same));
        Assert.Equal("follower", (await same).Headers.GetValues("X-SingleFlight").Single());
        Assert.Equal("Scope write|c=1", await Body(otherToken));
        Assert.Equal("Scope read|c=2", await Body(otherCookie));
    }

    /// <summary>Alice twice and Bob once: Alice's requests share one run, Bob's runs apart, each gets their own data.</summary>
    private static async Task AssertOneRunPerUserAsync(CoordinationTestApp app, Gate gate)
    {
        var client = app.CreateClient();

        var alice = client.GetWithHeadersAsync("/account", ("X-Api-Key", "alice"));
        var aliceAgain = client.GetWithHeadersAsync("/account", ("X-Api-Key", "alice"));
        var bob = client.GetWithHeadersAsync("/account", ("X-Api-Key", "bob"));
        Gate.WaitUntil(() => gate.Entered == 2 && HttpCoalescingTests.WaitingOn(app, "/account") == 3, "one run per user");
        gate.Open();

        Assert.Equal("alice", await Body(alice));
        Assert.Equal("alice", await Body(aliceAgain));
        Assert.Equal("bob", await Body(bob));
        Assert.Equal(2, gate.Entered);
    }

    private static CoordinationTestApp ApiKeyApp(string claimType, Gate gate, Action<SingleFlightPolicyOptions> configure) => new(
        map => map.MapGet("/account", async (HttpContext context) =>
        {
            await gate.PassAsync();
            return context.Request.Headers["X-Api-Key"].ToString();
        }).WithSingleFlight(p =>
        {
            p.EmitRoleHeader = true;
            configure(p);
        }),
        services: s => ApiKeyAuthentication.Add(s, claimType),
        beforeEndpoints: pipeline => pipeline.UseAuthentication());

    private static async Task<string> Body(Task<HttpResponseMessage> response) =>
        await (await response.DefaultTimeout()).Content.ReadAsStringAsync();
}
