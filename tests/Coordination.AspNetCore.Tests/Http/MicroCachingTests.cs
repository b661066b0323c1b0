using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Http.Headers;
using Coordination.AspNetCore;
using Coordination.Diagnostics;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Time.Testing;

namespace Coordination.Tests.Http;

/// <summary><c>CacheFor</c>: a shared response kept for a moment after its flight, under the followers' replay gate.</summary>
public sealed class MicroCachingTests
{
    private readonly FakeTimeProvider _time = new();
    private int _runs;

    [Fact]
    public async Task RequestJustAfterAFlight_IsAnsweredFromTheCache_WithoutRunningTheEndpoint()
    {
        await using var app = App(p => p.CacheFor(TimeSpan.FromSeconds(1)));
        using var requests = new MetricCollector<long>(app.Services.GetRequiredService<IMeterFactory>(), CoordinationDiagnostics.MeterName, "coordination.single_flight.requests");
        var client = app.CreateClient();

        var first = await client.GetAsync("/item");
        var second = await client.GetAsync("/item");

        Assert.Equal("run-1", await first.Content.ReadAsStringAsync());
        Assert.Equal("leader", Role(first));
        Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        Assert.Equal("run-1", await second.Content.ReadAsStringAsync());
        Assert.Equal("text/plain; charset=utf-8", second.Content.Headers.ContentType?.ToString());
        Assert.Equal("cached", Role(second));
        Assert.Equal(1, _runs);
        var cached = requests.GetMeasurementSnapshot().Where(m => Equals(m.Tags[SingleFlightMetrics.RoleTag], "cached"));
        Assert.Equal(1, cached.Where(m => Equals(m.Tags[SingleFlightMetrics.ResultTag], "succeeded")).Sum(m => m.Value));
    }

    [Fact]
    public async Task WithoutCacheFor_ARequestAfterTheFlightRunsTheEndpointAgain()
    {
        await using var app = App(_ => { });
        var client = app.CreateClient();

        await client.GetAsync("/item");
        var second = await client.GetAsync("/item");

        Assert.Equal("run-2", await second.Content.ReadAsStringAsync());
        Assert.Null(app.Policies.GetNamedPolicy(null).Cache);
    }

    [Fact]
    public async Task AfterCacheFor_TheEndpointRunsAgain()
    {
        await using var app = App(p => p.CacheFor(TimeSpan.FromSeconds(1)));
        var client = app.CreateClient();

        await client.GetAsync("/item");
        _time.Advance(TimeSpan.FromSeconds(1) - TimeSpan.FromTicks(1));
        var justBefore = await client.GetAsync("/item");
        _time.Advance(TimeSpan.FromTicks(1));
        var atExpiry = await client.GetAsync("/item");

        Assert.Equal("run-1", await justBefore.Content.ReadAsStringAsync());
        Assert.Equal("run-2", await atExpiry.Content.ReadAsStringAsync());
        Assert.Equal("leader", Role(atExpiry));
    }

    [Fact]
    public async Task CachedAnswer_CarriesItsAgeInWholeSeconds()
    {
        await using var app = App(p => p.CacheFor(TimeSpan.FromSeconds(10)));
        var client = app.CreateClient();

        var fresh = await client.GetAsync("/item");
        var immediately = await client.GetAsync("/item");
        _time.Advance(TimeSpan.FromSeconds(3.5));
        var later = await client.GetAsync("/item");

        Assert.Null(fresh.Headers.Age);
        Assert.Equal(TimeSpan.Zero, immediately.Headers.Age);
        Assert.Equal(TimeSpan.FromSeconds(3), later.Headers.Age);
    }

    [Fact]
    public async Task AnAgeTheEndpointSet_IsCarriedOnByTheCachedAnswer()
    {
        await using var app = App(p => p.CacheFor(TimeSpan.FromSeconds(10)), response => response.Headers.Age = "5");
        var client = app.CreateClient();

        await client.GetAsync("/item");
        _time.Advance(TimeSpan.FromSeconds(2));
        var cached = await client.GetAsync("/item");

        Assert.Equal("cached", Role(cached));
        Assert.Equal(TimeSpan.FromSeconds(7), cached.Headers.Age);
    }

    [Fact]
    public async Task TheEndpointsOwnMaxAge_ShortensTheTimeAResponseIsKept()
    {
        await using var app = App(p => p.CacheFor(TimeSpan.FromSeconds(10)), response => response.Headers.CacheControl = "public, max-age=2");
        var client = app.CreateClient();

        await client.GetAsync("/item");
        _time.Advance(TimeSpan.FromSeconds(1));
        var within = await client.GetAsync("/item");
        _time.Advance(TimeSpan.FromSeconds(1));
        var past = await client.GetAsync("/item");

        Assert.Equal("run-1", await within.Content.ReadAsStringAsync());
        Assert.Equal("run-2", await past.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task DifferentUsers_NeverGetEachOthersCachedResponse()
    {
        await using var app = App(p => p.CacheFor(TimeSpan.FromSeconds(1)));
        var client = app.CreateClient();

        var alice = await client.GetWithHeadersAsync("/item", ("Authorization", "Bearer alice"));
        var bob = await client.GetWithHeadersAsync("/item", ("Authorization", "Bearer bob"));
        var aliceAgain = await client.GetWithHeadersAsync("/item", ("Authorization", "Bearer alice"));

        Assert.Equal("run-1", await alice.Content.ReadAsStringAsync());
        Assert.Equal("run-2", await bob.Content.ReadAsStringAsync());
        Assert.Equal("leader", Role(bob));
        Assert.Equal("run-1", await aliceAgain.Content.ReadAsStringAsync());
        Assert.Equal("cached", Role(aliceAgain));
    }

    [Theory]
    [InlineData("Set-Cookie", "session=1", 200)]
    [InlineData("Cache-Control", "private", 200)]
    [InlineData("Cache-Control", "no-store", 200)]
    [InlineData("Cache-Control", "no-cache", 200)]
    [InlineData("Cache-Control", "max-age=0", 200)]
    [InlineData("Vary", "*", 200)]
    [InlineData("X-Unrelated", "1", 404)]
    [InlineData("X-Unrelated", "1", 500)]
    public async Task ResponsesThatMayNotBeKept_AreNotCached(string header, string value, int status)
    {
        await using var app = App(p => p.CacheFor(TimeSpan.FromSeconds(1)), response =>
        {
            response.StatusCode = status;
            response.Headers[header] = value;
        });
        var client = app.CreateClient();

        await client.GetAsync("/item");
        var second = await client.GetAsync("/item");

        Assert.Equal("run-2", await second.Content.ReadAsStringAsync());
        Assert.NotEqual("cached", Role(second));
    }

    [Fact]
    public async Task VaryOnAHeaderOutsideTheKey_IsMatchedBeforeACachedAnswer()
    {
        await using var app = App(p => p.CacheFor(TimeSpan.FromSeconds(1)), response => response.Headers.Vary = "X-Tenant");
        var client = app.CreateClient();

        var a = await client.GetWithHeadersAsync("/item", ("X-Tenant", "a"));
        var b = await client.GetWithHeadersAsync("/item", ("X-Tenant", "b"));
        var bAgain = await client.GetWithHeadersAsync("/item", ("X-Tenant", "b"));

        Assert.Equal("run-1", await a.Content.ReadAsStringAsync());
        Assert.Equal("run-2", await b.Content.ReadAsStringAsync());
        Assert.Equal("run-2", await bAgain.Content.ReadAsStringAsync());
        Assert.Equal("cached", Role(bAgain));
    }

    [Theory]
    [InlineData("Cache-Control", "no-cache")]
    [InlineData("Cache-Control", "max-age=0")]
    [InlineData("Pragma", "no-cache")]
    public async Task ClientAskingForAFreshResponse_RunsTheEndpoint_AndItsResponseIsKeptForTheOthers(string header, string value)
    {
        await using var app = App(p => p.CacheFor(TimeSpan.FromSeconds(1)));
        var client = app.CreateClient();

        await client.GetAsync("/item");
        var refreshed = await client.GetWithHeadersAsync("/item", (header, value));
        var next = await client.GetAsync("/item");

        Assert.Equal("run-2", await refreshed.Content.ReadAsStringAsync());
        Assert.Equal("leader", Role(refreshed));
        Assert.Equal("run-2", await next.Content.ReadAsStringAsync());
        Assert.Equal("cached", Role(next));
    }

    [Fact]
    public async Task ClientMaxAge_RefusesACachedAnswerOlderThanIt()
    {
        await using var app = App(p => p.CacheFor(TimeSpan.FromSeconds(10)));
        var client = app.CreateClient();

        await client.GetAsync("/item");
        _time.Advance(TimeSpan.FromSeconds(2));
        var youngEnough = await client.GetWithHeadersAsync("/item", ("Cache-Control", "max-age=2"));
        var tooOld = await client.GetWithHeadersAsync("/item", ("Cache-Control", "max-age=1"));

        Assert.Equal("run-1", await youngEnough.Content.ReadAsStringAsync());
        Assert.Equal("run-2", await tooOld.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task ClientNoCache_StillJoinsARunningFlight()
    {
        var gate = new Gate();
        await using var app = App(p => p.CacheFor(TimeSpan.FromSeconds(1)), gate: gate);
        var client = app.CreateClient();

        var leader = client.GetAsync("/item");
        Gate.WaitUntil(() => gate.Entered == 1, "the leader runs");
        var noCache = client.GetWithHeadersAsync("/item", ("Cache-Control", "no-cache"));
        Gate.WaitUntil(() => HttpCoalescingTests.WaitingOn(app, "/item") == 2, "the no-cache request joins the flight");
        gate.Open();

        Assert.Equal("run-1", await (await noCache.DefaultTimeout()).Content.ReadAsStringAsync());
        Assert.Equal("follower", Role(await noCache));
        Assert.Equal("leader", Role(await leader.DefaultTimeout()));
        Assert.Equal(1, _runs);
    }

    [Fact]
    public async Task ClientNoStore_LeadsAFlightWhoseResponseIsNotKept()
    {
        await using var app = App(p => p.CacheFor(TimeSpan.FromSeconds(1)));
        var client = app.CreateClient();

        await client.GetWithHeadersAsync("/item", ("Cache-Control", "no-store"));
        var next = await client.GetAsync("/item");

        Assert.Equal("run-2", await next.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Post_IsCoalescedButNeverCached()
    {
        await using var app = App(p => p.CacheFor(TimeSpan.FromSeconds(1)).AllowPost = true);
        var client = app.CreateClient();

        await client.PostAsync("/item", new StringContent("q"));
        var second = await client.PostAsync("/item", new StringContent("q"));

        Assert.Equal("run-2", await second.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task MaxCacheSize_ResponsesThatDoNotFitAreNotKept()
    {
        // Room for one 1,000-byte response with its headers and key, not for two.
        await using var app = App(p => p.CacheFor(TimeSpan.FromSeconds(1)).MaxCacheSize = 2_000, body: new string('x', 1_000));
        var client = app.CreateClient();
        var cache = app.Policies.GetNamedPolicy(null).Cache!;

        await client.GetAsync("/item?n=1");
        var firstAgain = await client.GetAsync("/item?n=1");
        await client.GetAsync("/item?n=2");
        var secondAgain = await client.GetAsync("/item?n=2");

        Assert.Equal("cached", Role(firstAgain));
        Assert.Equal("leader", Role(secondAgain));
        Assert.Equal(3, _runs);
        Assert.InRange(cache.Count, 0, 1);
    }

    [Fact]
    public async Task ResponseLargerThanMaxCacheSize_IsNotKept()
    {
        await using var app = App(p => p.CacheFor(TimeSpan.FromSeconds(1)).MaxCacheSize = 1_000, body: new string('x', 2_000));
        var client = app.CreateClient();

        await client.GetAsync("/item");
        var second = await client.GetAsync("/item");

        Assert.Equal("leader", Role(second));
        Assert.Equal(0, app.Policies.GetNamedPolicy(null).Cache!.Count);
    }

    [Fact]
    public async Task ResponseLargerThanMaxResponseBodySize_IsNotKept()
    {
        await using var app = App(p => { p.CacheFor(TimeSpan.FromSeconds(1)); p.MaxResponseBodySize = 100; }, body: new string('x', 200));
        var client = app.CreateClient();

        await client.GetAsync("/item");
        var second = await client.GetAsync("/item");

        Assert.Equal("leader", Role(second));
        Assert.Equal(new string('x', 200), await second.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task ControllerActionWithTheAttribute_IsAnsweredFromItsPolicysCache_AndMvcWritesNothingMore()
    {
        // The sample's [SingleFlight] reports controller, under a default policy that caches.
        await using var app = new CoordinationTestApp(
            coordination: coord => coord.AddSingleFlight(p => p.CacheFor(TimeSpan.FromSeconds(1))),
            services: s => s.AddSingleton<TimeProvider>(_time));
        var runs = app.Services.GetRequiredService<WebApi.RunCounter>();
        var client = app.CreateClient();

        var first = client.GetAsync("/reports/7");
        Gate.WaitUntil(() => runs.Runs("reports") == 1, "the report is built");
        var led = await SampleServiceTests.WhenOneLookupEnds(_time, first);
        var cached = await client.GetAsync("/reports/7").DefaultTimeout();

        Assert.Equal("cached", Role(cached));
        Assert.Equal(await led.Content.ReadAsStringAsync(), await cached.Content.ReadAsStringAsync());
        Assert.Equal(1, runs.Runs("reports"));
    }

    [Theory]
    [InlineData(0L, 1L, "CacheDuration")]
    [InlineData(-1_000L, 1L, "CacheDuration")]
    [InlineData(1_000L, 0L, "MaxCacheSize")]
    public async Task InvalidCacheOptions_FailAtStartup_NamingTheOption(long cacheMilliseconds, long maxCacheSize, string option)
    {
        var error = await StartupFailure.CaptureAsync(
            app => app.MapGet("/item", () => "x").WithSingleFlight("micro"),
            coord => coord.AddSingleFlight("micro", p =>
            {
                p.CacheFor(TimeSpan.FromMilliseconds(cacheMilliseconds));
                p.MaxCacheSize = maxCacheSize;
            }));

        Assert.Contains(option, error.Message, StringComparison.Ordinal);
        Assert.Contains("'micro'", error.Message, StringComparison.Ordinal);
    }

    private static string Role(HttpResponseMessage response) => response.Headers.GetValues("X-SingleFlight").Single();

    /// <summary>An app with <c>/item</c> under the default policy (role header on), answering <c>run-N</c>, or <paramref name="body"/> streamed.</summary>
    private CoordinationTestApp App(Action<SingleFlightPolicyOptions> policy, Action<HttpResponse>? respond = null, string? body = null, Gate? gate = null) =>
        new(
            map => map.MapMethods("/item", [HttpMethods.Get, HttpMethods.Post], async (HttpContext context) =>
            {
                var run = Interlocked.Increment(ref _runs);
                if (gate is not null)
                {
                    await gate.PassAsync();
                }

                respond?.Invoke(context.Response);
                if (body is not null)
                {
                    // Of unknown length (no Content-Length), so the size checks are the cache's, not the replay gate's.
                    await context.Response.WriteAsync(body);
                    return Results.Empty;
                }

                return Results.Text($"run-{run}");
            }).WithSingleFlight(),
            coordination: coord => coord.AddSingleFlight(p =>
            {
                p.EmitRoleHeader = true;
                policy(p);
            }),
            services: s => s.AddSingleton<TimeProvider>(_time));
}
