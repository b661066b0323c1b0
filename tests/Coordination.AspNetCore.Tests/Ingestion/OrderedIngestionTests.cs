using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Coordination.AspNetCore;
using Coordination.Ingestion;
using Coordination.Tests.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace Coordination.Tests.Ingestion;

public sealed class OrderedIngestionTests
{
    [Fact]
    public async Task FiftyKeysTimesFortyEvents_InterleavedBatches_KeepEachKeyInOrderAndEndTerminal()
    {
        // Arrange: 50 keys × 40 events, each scripted to succeed, fail a few times, run out of attempts or fail for good.
        var random = new Random(7);
        var events = new List<ScriptedEvent>();
        for (var sequence = 0; sequence < 40; sequence++)
        {
            for (var key = 0; key < 50; key++)
            {
                var roll = random.Next(100);
                var script = roll < 70 ? "ok" : roll < 90 ? $"retry:{random.Next(1, 3)}" : roll < 95 ? "retry:10" : "permanent";
                events.Add(new ScriptedEvent($"account-{key}", sequence, script));
            }
        }

        await using var app = IngestionTestApp.Create();
        var client = app.CreateClient();

        // Act: post in interleaved batches of 25, in order.
        var ids = new List<long>();
        foreach (var batch in events.Chunk(25))
        {
            var response = await client.PostAsJsonAsync("/events", batch);
            Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
            ids.AddRange((await response.Content.ReadFromJsonAsync<IngestionTestApp.Accepted>())!.Ids);
        }

        var log = app.Services.GetRequiredKeyedService<IEventLog>("events");
        Gate.WaitUntil(() => log.ReadPendingAsync(0, 1, default).AsTask().Result.Count == 0, "every event is terminal");

        // Assert
        var journal = app.Services.GetRequiredService<HandlerJournal>();
        var calls = journal.Calls.OrderBy(c => c.Order).ToList();
        foreach (var key in calls.GroupBy(c => c.Key))
        {
            var handled = key.Where(c => c.Outcome == "succeeded").Select(c => c.Id).ToList();
            Assert.True(handled.SequenceEqual(handled.Order()) && handled.Distinct().Count() == handled.Count, $"{key.Key}: handled out of order: {string.Join(",", handled)}");
            foreach (var id in handled)
            {
                var succeededAt = key.First(c => c.Id == id && c.Outcome == "succeeded").Order;
                Assert.DoesNotContain(key, c => c.Id == id && c.Order > succeededAt);
            }
        }

        var states = await Task.WhenAll(ids.Select(async id => (await log.GetAsync(id, default))!.State));
        Assert.Equal(2000, ids.Count);
        Assert.Equal(2000, states.Count(s => s is EventState.Succeeded or EventState.DeadLettered));
        Assert.Contains(EventState.DeadLettered, states);
        Assert.Equal(calls.Count(c => c.Outcome == "succeeded"), states.Count(s => s == EventState.Succeeded));

        // Other keys flowed while a key was held: some success of another key falls between a failure and its retry.
        var failure = calls.First(c => c.Outcome == "failed");
        var retried = calls.First(c => c.Id == failure.Id && c.Order > failure.Order);
        Assert.Contains(calls, c => c.Key != failure.Key && c.Outcome == "succeeded" && c.Order > failure.Order && c.Order < retried.Order);
    }

    [Fact]
    public async Task HeldEvent_ReportsWaitingWithTheBlockingId_ThenSucceedsAfterTheRetry()
    {
        var time = new FakeTimeProvider();
        await using var app = IngestionTestApp.Create(o => o.RetryBackoff = o.MaxRetryBackoff = TimeSpan.FromMinutes(1), time);
        var client = app.CreateClient();

        var accepted = await (await client.PostAsJsonAsync("/events", new[]
        {
            new ScriptedEvent("a", 1, "retry:1"),
            new ScriptedEvent("a", 2, "ok"),
        })).Content.ReadFromJsonAsync<IngestionTestApp.Accepted>();
        var (blocker, held) = (accepted!.Ids[0], accepted.Ids[1]);
        Assert.Equal($"/events/{blocker}", accepted.StatusUrls[0]);

        Gate.WaitUntil(() => client.Status(held).State == "Waiting" && client.Status(blocker).State == "Failed", "the second event waits behind the first");
        var waiting = client.Status(held);
        Assert.Equal(blocker, waiting.BlockingId);
        var failed = client.Status(blocker);
        Assert.Equal(1, failed.Attempts);
        Assert.Equal("scripted retryable failure", failed.LastError);

        time.AdvanceUntil(() => client.Status(held).State == "Succeeded", TimeSpan.FromMinutes(1), "both succeed in order after the retry");
        Assert.Equal("Succeeded", client.Status(blocker).State);
        Assert.Equal(2, client.Status(blocker).Attempts);
    }

    [Fact]
    public async Task Metrics_CountEventsAndReportBlockedKeysAndTheirAge()
    {
        var time = new FakeTimeProvider();
        await using var app = IngestionTestApp.Create(o => o.RetryBackoff = o.MaxRetryBackoff = TimeSpan.FromMinutes(1), time);
        var client = app.CreateClient();
        var meters = app.Services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>();
        using var events = new Microsoft.Extensions.Diagnostics.Metrics.Testing.MetricCollector<long>(meters, Coordination.Diagnostics.CoordinationDiagnostics.MeterName, "coordination.ingestion.events");
        using var blocked = new Microsoft.Extensions.Diagnostics.Metrics.Testing.MetricCollector<int>(meters, Coordination.Diagnostics.CoordinationDiagnostics.MeterName, "coordination.barrier.keys.blocked");
        using var age = new Microsoft.Extensions.Diagnostics.Metrics.Testing.MetricCollector<double>(meters, Coordination.Diagnostics.CoordinationDiagnostics.MeterName, "coordination.barrier.blocked.age");

        var ids = (await (await client.PostAsJsonAsync("/events", new[] { new ScriptedEvent("m", 1, "retry:1"), new ScriptedEvent("m", 2, "ok") })).Content.ReadFromJsonAsync<IngestionTestApp.Accepted>())!.Ids;
        Gate.WaitUntil(() => client.Status(ids[0]).State == "Failed", "the first event failed");
        time.Advance(TimeSpan.FromSeconds(30));
        blocked.RecordObservableInstruments();
        age.RecordObservableInstruments();
        Assert.Equal(1, blocked.LastMeasurement!.Value);
        Assert.Equal("events", blocked.LastMeasurement.Tags["coordination.name"]);
        Assert.InRange(age.LastMeasurement!.Value, 30, 31);

        time.AdvanceUntil(() => client.Status(ids[1]).State == "Succeeded", TimeSpan.FromSeconds(30), "both succeeded");
        Gate.WaitUntil(() => { blocked.RecordObservableInstruments(); return blocked.LastMeasurement!.Value == 0; }, "no key is blocked any more");

        long Count(string result) => events.GetMeasurementSnapshot().Where(m => Equals(m.Tags["coordination.ingestion.result"], result)).Sum(m => m.Value);
        Assert.Equal(2, Count("accepted"));
        Assert.Equal(1, Count("failed"));
        Assert.Equal(2, Count("succeeded"));
    }

    [Fact]
    public async Task ParkKey_HoldsTheKeyAfterADeadLetter_UntilReleased()
    {
        await using var app = IngestionTestApp.Create(o => o.OnTerminalFailure = TerminalFailureAction.ParkKey);
        var client = app.CreateClient();

        var ids = (await (await client.PostAsJsonAsync("/events", new[]
        {
            new ScriptedEvent("p", 1, "permanent"),
            new ScriptedEvent("p", 2, "ok"),
            new ScriptedEvent("q", 1, "ok"),
        })).Content.ReadFromJsonAsync<IngestionTestApp.Accepted>())!.Ids;

        Gate.WaitUntil(() => client.Status(ids[0]).State == "DeadLettered" && client.Status(ids[2]).State == "Succeeded", "the dead letter is recorded and the other key flows");
        Assert.Equal("Pending", client.Status(ids[1]).State);

        Assert.Equal(HttpStatusCode.NoContent, (await client.PostAsync("/events/keys/p/release", null)).StatusCode);
        Gate.WaitUntil(() => client.Status(ids[1]).State == "Succeeded", "the released key goes on");
        Assert.Equal(HttpStatusCode.NotFound, (await client.PostAsync("/events/keys/p/release", null)).StatusCode);
    }

    [Fact]
    public async Task Replay_OfADeadLetter_HandlesACopyAfterTheKeysLaterEvents_AndOnlyADeadLetterCanBeReplayed()
    {
        await using var app = IngestionTestApp.Create();
        var client = app.CreateClient();
        var ids = await client.PostAsync(new ScriptedEvent("r", 1, "permanent"), new ScriptedEvent("r", 2, "ok"));
        Gate.WaitUntil(() => client.Status(ids[1]).State == "Succeeded", "the key goes on after the dead letter");

        var replay = await client.PostAsync($"/events/{ids[0]}/replay", null);
        var copy = (await replay.Content.ReadFromJsonAsync<IngestionTestApp.Accepted>())!;

        Assert.Equal(HttpStatusCode.Accepted, replay.StatusCode);
        Assert.Equal($"/events/{copy.Ids[0]}", replay.Headers.Location?.OriginalString);
        Assert.True(copy.Ids[0] > ids[1]);
        Gate.WaitUntil(() => client.Status(copy.Ids[0]).State == "DeadLettered", "the copy is handled (and fails for good again)");
        Assert.Equal([(ids[0], "permanent"), (ids[1], "succeeded"), (copy.Ids[0], "permanent")], app.Journal().CallsOf("r"));
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync($"/events/{ids[0]}")).StatusCode);
        Assert.Equal(HttpStatusCode.Conflict, (await client.PostAsync($"/events/{ids[1]}/replay", null)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await client.PostAsync($"/events/{ids[0]}/replay", null)).StatusCode);
    }

    [Fact]
    public async Task SucceededEvents_AreSweptAfterTheirRetention_DeadLettersStay()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var app = IngestionTestApp.Create(o => o.SucceededEventRetention = TimeSpan.FromMinutes(5), time);
        var client = app.CreateClient();
        var ids = await client.PostAsync(new ScriptedEvent("s", 1, "ok"), new ScriptedEvent("t", 1, "permanent"));
        Gate.WaitUntil(() => client.Status(ids[0]).State == "Succeeded" && client.Status(ids[1]).State == "DeadLettered", "both are terminal");

        time.Advance(TimeSpan.FromMinutes(4));
        Assert.Equal("Succeeded", client.Status(ids[0]).State);
        Gate.WaitUntil(
            () =>
            {
                time.Advance(TimeSpan.FromSeconds(10));
                return client.GetAsync($"/events/{ids[0]}").GetAwaiter().GetResult().StatusCode == HttpStatusCode.NotFound;
            },
            "the succeeded event is swept");
        Assert.Equal("DeadLettered", client.Status(ids[1]).State);
    }

    [Fact]
    public async Task Stop_FinishesEverythingAccepted_AndRefusesNewEvents()
    {
        await using var app = IngestionTestApp.Create();
        var client = app.CreateClient();
        var journal = app.Services.GetRequiredService<HandlerJournal>();
        var log = app.Services.GetRequiredKeyedService<IEventLog>("events");
        var ingestion = app.Services.GetRequiredKeyedService<OrderedIngestion<ScriptedEvent>>("events");
        var lifetime = app.Services.GetServices<IHostedPrimitive>().OfType<OrderedIngestionLifetime<ScriptedEvent>>().Single();
        var ids = (await (await client.PostAsJsonAsync("/events", new[]
        {
            new ScriptedEvent("a", 1, "gate"),
            new ScriptedEvent("a", 2, "ok"),
            new ScriptedEvent("b", 1, "ok"),
        })).Content.ReadFromJsonAsync<IngestionTestApp.Accepted>())!.Ids;

        var stop = lifetime.StopAsync(CancellationToken.None);
        var refused = await client.PostAsJsonAsync("/events", new[] { new ScriptedEvent("c", 1, "ok") });
        Assert.False(stop.IsCompleted);
        journal.Gate.SetResult();
        await stop.DefaultTimeout();

        Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
        foreach (var id in ids)
        {
            Assert.Equal(EventState.Succeeded, (await log.GetAsync(id, default))!.State);
        }

        await Assert.ThrowsAsync<IngestionStoppedException>(() => ingestion.AppendAsync([new ScriptedEvent("d", 1, "ok")]).AsTask());
    }

    [Theory]
    [InlineData("{not json", "not valid JSON")]
    [InlineData("42", "Expected an event object or an array")]
    [InlineData("[]", "no events")]
    [InlineData("[{\"account\":\"a\",\"sequence\":1,\"script\":\"ok\"},{\"sequence\":2,\"script\":\"ok\"}]", "Event 1 has no key")]
    [InlineData("{\"account\":\"\",\"sequence\":1,\"script\":\"ok\"}", "Event 0 has no key")]
    public async Task InvalidBody_Gets400ProblemDetails_AndNothingIsAppended(string body, string expected)
    {
        await using var app = IngestionTestApp.Create();
        var client = app.CreateClient();

        var response = await client.PostAsync("/events", new StringContent(body, Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains(expected, await response.Content.ReadAsStringAsync());
        var log = app.Services.GetRequiredKeyedService<IEventLog>("events");
        Assert.Null(await log.GetAsync(1, default));
    }

    [Fact]
    public async Task OversizedBody_Gets413_AndNothingIsAppended()
    {
        await using var app = IngestionTestApp.Create(o => o.MaxRequestBodySize = 100);
        var client = app.CreateClient();

        var response = await client.PostAsJsonAsync("/events", Enumerable.Range(0, 10).Select(i => new ScriptedEvent("a", i, "ok")));

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Contains("100", await response.Content.ReadAsStringAsync());
        Assert.Null(await app.Services.GetRequiredKeyedService<IEventLog>("events").GetAsync(1, default));
    }

    [Fact]
    public async Task UnknownEvent_Gets404ProblemDetails()
    {
        await using var app = IngestionTestApp.Create();

        var response = await app.CreateClient().GetAsync("/events/12345");

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task MissingKeySelector_FailsAtStartupNamingTheOption()
    {
        var error = await StartupFailure.CaptureAsync(
            app => app.MapOrderedIngestion<ScriptedEvent>("/events", "events"),
            coordination: coord => coord.AddOrderedIngestion<ScriptedEvent, ScriptedHandler>("events", _ => { }),
            services: s => s.AddSingleton<HandlerJournal>());

        Assert.Contains("KeySelector", error.ToString());
    }
}
