using System.Net;
using System.Net.Http.Json;
using Coordination.AspNetCore;
using Coordination.Diagnostics;
using Coordination.Tasks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Time.Testing;
using WebApi;

namespace Coordination.Tests.Http;

public sealed class SampleServiceTests
{
    [Fact]
    public async Task Products_HundredConcurrentIdenticalGets_RunTheHandlerOnceAndShareOneBody()
    {
        // Arrange: the catalog's 200 ms of work runs on a fake clock, so the test decides when it ends.
        var time = new FakeTimeProvider();
        await using var app = new CoordinationTestApp(services: s => s.AddSingleton<TimeProvider>(time));
        var runs = app.Services.GetRequiredService<RunCounter>();
        using var requests = new MetricCollector<long>(app.Services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>(), CoordinationDiagnostics.MeterName, "coordination.single_flight.requests");
        var client = app.CreateClient();
        var group = app.Policy("catalog").Group;

        // Act
        var responses = Enumerable.Range(0, 100).Select(_ => client.GetAsync("/products?category=x")).ToArray();
        Gate.WaitUntil(() => runs.Runs("products") == 1 && group.WaitingCallers == 100, "all 100 requests share the flight");
        var completed = await WhenCatalogWorkEnds(time, responses);

        // Assert
        Assert.Equal(1, runs.Runs("products"));
        Assert.All(completed, r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
        var bodies = await Task.WhenAll(completed.Select(r => r.Content.ReadAsStringAsync()));
        Assert.Single(bodies.Distinct());
        Assert.Contains("x-1", bodies[0]);
        var roles = completed.Select(r => r.Headers.GetValues("X-SingleFlight").Single()).ToList();
        Assert.Equal(1, roles.Count(r => r == "leader"));
        Assert.Equal(99, roles.Count(r => r == "follower"));

        var measurements = requests.GetMeasurementSnapshot();
        Assert.Equal(1, measurements.Where(m => Equals(m.Tags[SingleFlightMetrics.RoleTag], "leader") && Equals(m.Tags[SingleFlightMetrics.ResultTag], "succeeded") && Equals(m.Tags["coordination.name"], "catalog")).Sum(m => m.Value));
        Assert.Equal(99, measurements.Where(m => Equals(m.Tags[SingleFlightMetrics.RoleTag], "follower") && Equals(m.Tags[SingleFlightMetrics.ResultTag], "succeeded")).Sum(m => m.Value));
        Assert.Equal(0, group.Count);
    }

    [Fact]
    public async Task Products_OtherQueryKeysOutsideThePolicy_StillShareAFlight()
    {
        var time = new FakeTimeProvider();
        await using var app = new CoordinationTestApp(services: s => s.AddSingleton<TimeProvider>(time));
        var runs = app.Services.GetRequiredService<RunCounter>();
        var client = app.CreateClient();

        var a = client.GetAsync("/products?category=x&utm=1");
        var b = client.GetAsync("/products?utm=2&category=x");
        var c = client.GetAsync("/products?category=y");
        Gate.WaitUntil(() => runs.Runs("products") == 2 && app.Policy("catalog").Group.WaitingCallers == 3, "x is shared and y runs apart");
        await WhenCatalogWorkEnds(time, [a, b, c]);

        Assert.Equal(2, runs.Runs("products"));
        Assert.Equal(await (await a).Content.ReadAsStringAsync(), await (await b).Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Products_RequestJustAfterAFlight_IsAnsweredFromTheCatalogsOneSecondCache()
    {
        var time = new FakeTimeProvider();
        await using var app = new CoordinationTestApp(services: s => s.AddSingleton<TimeProvider>(time));
        var runs = app.Services.GetRequiredService<RunCounter>();
        var client = app.CreateClient();

        var first = client.GetAsync("/products?category=z");
        Gate.WaitUntil(() => runs.Runs("products") == 1, "the lookup runs");
        var led = await WhenOneLookupEnds(time, first);
        var cached = await client.GetAsync("/products?category=z").DefaultTimeout();

        Assert.Equal("leader", led.Headers.GetValues("X-SingleFlight").Single());
        Assert.Equal("cached", cached.Headers.GetValues("X-SingleFlight").Single());
        Assert.Equal(TimeSpan.Zero, cached.Headers.Age);
        Assert.Equal(await led.Content.ReadAsStringAsync(), await cached.Content.ReadAsStringAsync());
        Assert.Equal(1, runs.Runs("products"));
    }

    [Fact]
    public async Task Reports_ControllerActionWithAttribute_IsCoalescedAndOptOutIsNot()
    {
        var time = new FakeTimeProvider();
        await using var app = new CoordinationTestApp(services: s => s.AddSingleton<TimeProvider>(time));
        var runs = app.Services.GetRequiredService<RunCounter>();
        var client = app.CreateClient();
        var group = app.Policy(null).Group;

        var coalesced = Enumerable.Range(0, 10).Select(_ => client.GetAsync("/reports/7")).ToArray();
        Gate.WaitUntil(() => runs.Runs("reports") == 1 && group.WaitingCallers == 10, "ten report requests share the flight");
        var reports = await Task.WhenAll((await WhenCatalogWorkEnds(time, coalesced)).Select(r => r.Content.ReadFromJsonAsync<Report>()));
        Assert.Equal(1, runs.Runs("reports"));
        Assert.All(reports, r => Assert.Equal(7, r!.Id));

        var fresh = Enumerable.Range(0, 3).Select(_ => client.GetAsync("/reports/7/fresh")).ToArray();
        Gate.WaitUntil(() => runs.Runs("reports") == 4, "every opted-out request runs");
        var freshResponses = await WhenCatalogWorkEnds(time, fresh);
        Assert.All(freshResponses, r => Assert.False(r.Headers.Contains("X-SingleFlight")));
    }

    [Fact]
    public async Task Stats_ReportsRunsPerHandler()
    {
        await using var app = new CoordinationTestApp();
        var client = app.CreateClient();
        app.Services.GetRequiredService<RunCounter>().Ran("products");

        var stats = await client.GetFromJsonAsync<Dictionary<string, int>>("/stats");

        Assert.Equal(1, stats!["products"]);
    }

    [Fact]
    public async Task Counters_ConcurrentIncrements_AllCountOnceAndShareLoadsAndSaves()
    {
        await using var app = new CoordinationTestApp();
        var client = app.CreateClient();
        var runs = app.Services.GetRequiredService<RunCounter>();

        var responses = await Task.WhenAll(Enumerable.Range(0, 100).Select(_ => client.PostAsync("/counters/c1/increment", null))).DefaultTimeout();
        var values = await Task.WhenAll(responses.Select(async r => (await r.Content.ReadFromJsonAsync<CounterResponse>())!.Value));

        Assert.All(responses, r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
        Assert.Equal(Enumerable.Range(1, 100).Select(v => (long)v), values.Order());
        Assert.Equal(runs.Runs("counters.loads"), runs.Runs("counters.saves"));
        Assert.InRange(runs.Runs("counters.saves"), 1, 100);
    }

    [Fact]
    public async Task Emails_AreSentByTheWorker_FailuresRetryOrMoveToTheErrorGroup_AndTheCountsShowIt()
    {
        await using var app = new CoordinationTestApp();
        var client = app.CreateClient();
        var outbox = app.Services.GetRequiredService<Outbox>();
        var runs = app.Services.GetRequiredService<RunCounter>();

        var accepted = await Task.WhenAll(
            client.PostAsJsonAsync("/emails", new Email("ada@example.com", "hello", "Hi Ada")),
            client.PostAsJsonAsync("/emails", new Email("bob@example.com", "flaky", "Hi Bob")),
            client.PostAsJsonAsync("/emails", new Email("eve@example.invalid", "hello", "Hi Eve"))).DefaultTimeout();

        Assert.All(accepted, r => Assert.Equal(HttpStatusCode.Accepted, r.StatusCode));
        Assert.Equal("/tasks/emails", accepted[0].Headers.Location!.OriginalString);
        Gate.WaitUntil(() => outbox.Count == 2, "both good emails are sent");
        // Sending and completing are two steps: wait for both tasks to be deleted and the third to reach its error group.
        var emails = app.Services.GetRequiredKeyedService<TaskQueue>("emails");
        Gate.WaitUntil(
            () => emails.Store.CountAsync(emails.Group).AsTask().Result.Total == 0 && emails.Store.CountAsync(emails.ErrorGroup).AsTask().Result.Total == 1,
            "every task is completed or dead-lettered");
        var counts = await client.GetFromJsonAsync<QueueCounts>("/tasks/emails");
        Assert.Equal(new QueueCounts("emails", "emails", 0, 0, 0, 1), counts);
        Assert.Equal(["Hi Ada", "Hi Bob"], (await client.GetFromJsonAsync<Email[]>("/emails/sent"))!.Select(e => e.Body).Order());
        Assert.Equal(1 + 3 + 1, runs.Runs("emails.handled"));
    }

    [Theory]
    [InlineData("{\"to\": \"ada@example.com\", ")]
    [InlineData("{\"subject\": \"hello\", \"body\": \"hi\"}")]
    [InlineData("{\"to\": \"not an address\", \"subject\": \"hello\", \"body\": \"hi\"}")]
    public async Task Emails_BadInput_Gets400ProblemDetails_AndNothingIsEnqueued(string body)
    {
        await using var app = new CoordinationTestApp();
        var client = app.CreateClient();

        var response = await client.PostAsync("/emails", new StringContent(body, System.Text.Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType!.MediaType);
        Assert.Equal(new QueueCounts("emails", "emails", 0, 0, 0, 0), await client.GetFromJsonAsync<QueueCounts>("/tasks/emails"));
    }

    [Fact]
    public async Task Tasks_UnknownQueue_Gets404()
    {
        await using var app = new CoordinationTestApp();

        var response = await app.CreateClient().GetAsync("/tasks/nope");

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }

    /// <summary>Ends the catalog's simulated work; a request may create its delay a moment after it counts its run.</summary>
    /// <summary>
    /// Ends one catalog lookup that is running, moving the clock as little as possible: one step of its 200 ms, or a
    /// second one when its timer did not exist yet. Each step waits for the response, so the clock stays well inside a
    /// one-second cache (<see cref="WhenCatalogWorkEnds"/> moves it on every 50 ms of a slow machine).
    /// </summary>
    internal static async Task<HttpResponseMessage> WhenOneLookupEnds(FakeTimeProvider time, Task<HttpResponseMessage> response)
    {
        for (var step = 0; step < 4 && !response.IsCompleted; step++)
        {
            time.Advance(Catalog.SimulatedWork);
            ((IAsyncResult)response).AsyncWaitHandle.WaitOne(TimeSpan.FromSeconds(5));
        }

        return await response.DefaultTimeout();
    }

    private static Task<HttpResponseMessage[]> WhenCatalogWorkEnds(FakeTimeProvider time, Task<HttpResponseMessage>[] responses)
    {
        var all = Task.WhenAll(responses);
        time.AdvanceUntil(() => all.IsCompleted, Catalog.SimulatedWork, "the catalog's work ends");
        return all;
    }

    private sealed record QueueCounts(string Queue, string Group, int Ready, int Leased, int Scheduled, int Errors);

    private sealed record CounterResponse(string Id, long Value);
}
