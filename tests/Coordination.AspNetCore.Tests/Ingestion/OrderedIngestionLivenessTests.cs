using System.Net;
using Coordination.Diagnostics;
using Coordination.Ingestion;
using Coordination.Tests.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Time.Testing;

namespace Coordination.Tests.Ingestion;

/// <summary>Per-key order and "other keys keep flowing" where parking, releasing and backlogs meet.</summary>
public sealed class OrderedIngestionLivenessTests
{
    [Fact]
    public async Task ReleasedKey_RunsItsRemainingEventsInIdOrder_AndDispatchingGoesOn()
    {
        // One worker, so the order of the work it was handed is the order it runs: a1 is dead-lettered and parks "a",
        // while a2 and a3 were already handed out in the same pass; "b" holds the worker until "a" is released.
        await using var app = IngestionTestApp.Create(o =>
        {
            o.OnTerminalFailure = TerminalFailureAction.ParkKey;
            o.Workers = 1;
        });
        var client = app.CreateClient();
        var journal = app.Journal();
        var ids = await client.PostAsync(
            new ScriptedEvent("a", 1, "permanent"),
            new ScriptedEvent("a", 2, "ok"),
            new ScriptedEvent("b", 1, "gate"),
            new ScriptedEvent("a", 3, "retry:1"));

        Gate.WaitUntil(() => client.Status(ids[0]).State == "DeadLettered" && journal.Entered == 2, "a1 is dead-lettered and b1 holds the worker");
        Assert.Equal(HttpStatusCode.NoContent, (await client.PostAsync("/events/keys/a/release", null)).StatusCode);
        journal.Gate.SetResult();

        Gate.WaitUntil(() => client.Status(ids[1]).State == "Succeeded" && client.Status(ids[3]).State == "Succeeded", "the released key finishes");
        Assert.Equal([(ids[0], "permanent"), (ids[1], "succeeded"), (ids[3], "failed"), (ids[3], "succeeded")], journal.CallsOf("a"));

        var later = await client.PostAsync(new ScriptedEvent("c", 1, "ok"));
        Gate.WaitUntil(() => client.Status(later[0]).State == "Succeeded", "events posted afterwards are still dispatched");
    }

    [Theory]
    [InlineData("retry:1", TerminalFailureAction.Skip)]
    [InlineData("permanent", TerminalFailureAction.ParkKey)]
    public async Task HeldKeyWithABacklogLargerThanABatch_DoesNotHoldOtherKeys(string firstScript, TerminalFailureAction onTerminalFailure)
    {
        // The clock never moves: the held key stays held (backing off for a minute, or parked) for the whole test.
        var time = new FakeTimeProvider();
        await using var app = IngestionTestApp.Create(
            o =>
            {
                o.BatchSize = 10;
                o.RetryBackoff = o.MaxRetryBackoff = TimeSpan.FromMinutes(1);
                o.OnTerminalFailure = onTerminalFailure;
            },
            time);
        var client = app.CreateClient();
        var held = await client.PostAsync([new ScriptedEvent("held", 0, firstScript), .. Enumerable.Range(1, 50).Select(i => new ScriptedEvent("held", i, "ok"))]);
        Gate.WaitUntil(() => client.Status(held[0]).State is "Failed" or "DeadLettered", "the first event of the held key failed");

        var others = await client.PostAsync([.. Enumerable.Range(0, 5).Select(i => new ScriptedEvent($"other-{i}", 0, "ok"))]);

        Gate.WaitUntil(() => others.All(id => client.Status(id).State == "Succeeded"), "the other keys are handled while the held key's backlog waits");
        Assert.Contains(client.Status(held[0]).State, new[] { "Failed", "DeadLettered" });
        Assert.DoesNotContain(app.Journal().Calls, c => c.Key == "held" && c.Id != held[0]);
    }

    [Fact]
    public async Task ParkedKey_CountsAsBlockedInTheBarrierMetrics_UntilReleased()
    {
        var time = new FakeTimeProvider();
        await using var app = IngestionTestApp.Create(o => o.OnTerminalFailure = TerminalFailureAction.ParkKey, time);
        var client = app.CreateClient();
        var meters = app.Services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>();
        using var blocked = new MetricCollector<int>(meters, CoordinationDiagnostics.MeterName, "coordination.barrier.keys.blocked");
        using var age = new MetricCollector<double>(meters, CoordinationDiagnostics.MeterName, "coordination.barrier.blocked.age");

        var ids = await client.PostAsync(new ScriptedEvent("p", 1, "permanent"));
        Gate.WaitUntil(() => client.Status(ids[0]).State == "DeadLettered", "the event is dead-lettered and its key parked");
        time.Advance(TimeSpan.FromSeconds(20));
        blocked.RecordObservableInstruments();
        age.RecordObservableInstruments();
        Assert.Equal(1, blocked.LastMeasurement!.Value);
        Assert.Equal(20, age.LastMeasurement!.Value);

        Assert.Equal(HttpStatusCode.NoContent, (await client.PostAsync("/events/keys/p/release", null)).StatusCode);
        blocked.RecordObservableInstruments();
        Assert.Equal(0, blocked.LastMeasurement!.Value);
    }

    [Fact]
    public async Task KeyWhoseEventsReachTheBarrierOutOfSequence_IsHeldAndCounted_AndOtherKeysGoOn()
    {
        // A log that hides event 1 from its first read: event 2 runs first and fails, so event 1 comes after a later
        // failed event of its key, an illegal sequence. The key stays held, so the host's stop gives up after 1 s.
        await using var app = IngestionTestApp.Create(services: s =>
        {
            s.AddKeyedSingleton<IEventLog>("events", new HidingOnceLog(new InMemoryEventLog(), hiddenId: 1));
            s.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(1));
        });
        var client = app.CreateClient();
        var meters = app.Services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>();
        using var illegal = new MetricCollector<long>(meters, CoordinationDiagnostics.MeterName, "coordination.barrier.illegal_sequences");
        var bad = await client.PostAsync(new ScriptedEvent("bad", 1, "ok"), new ScriptedEvent("bad", 2, "retry:1"));
        Assert.Equal([1L, 2L], bad);
        Gate.WaitUntil(() => client.Status(bad[0]).State == "Waiting", "the out-of-sequence event is held behind the later failed one");

        var good = await client.PostAsync(new ScriptedEvent("good", 1, "ok"));

        Gate.WaitUntil(() => client.Status(good[0]).State == "Succeeded", "other keys are still dispatched");
        illegal.RecordObservableInstruments();
        Assert.True(illegal.LastMeasurement!.Value > 0);
    }

    /// <summary>An in-memory log whose dispatch read leaves out one event the first time it would return it.</summary>
    private sealed class HidingOnceLog(InMemoryEventLog inner, long hiddenId) : IEventLog
    {
        private bool _hidden;

        public async ValueTask<IReadOnlyList<LoggedEvent>> ReadDispatchableAsync(DispatchQuery query, CancellationToken cancellationToken)
        {
            var events = await inner.ReadDispatchableAsync(query, cancellationToken);
            if (_hidden || !events.Any(e => e.Id == hiddenId))
            {
                return events;
            }

            _hidden = true;
            return [.. events.Where(e => e.Id != hiddenId)];
        }

        public ValueTask<AppendResult> AppendAsync(IReadOnlyList<NewEvent> events, IdempotentAppend? idempotency, CancellationToken cancellationToken) => inner.AppendAsync(events, idempotency, cancellationToken);

        public ValueTask<IReadOnlyList<LoggedEvent>> ReadPendingAsync(long afterId, int max, CancellationToken cancellationToken) => inner.ReadPendingAsync(afterId, max, cancellationToken);

        public ValueTask<LoggedEvent?> GetAsync(long id, CancellationToken cancellationToken) => inner.GetAsync(id, cancellationToken);

        public ValueTask SaveStateAsync(LoggedEvent logged, CancellationToken cancellationToken) => inner.SaveStateAsync(logged, cancellationToken);

        public ValueTask<bool> SetParkedAsync(string key, bool parked, CancellationToken cancellationToken) => inner.SetParkedAsync(key, parked, cancellationToken);

        public ValueTask<IReadOnlySet<string>> ParkedKeysAsync(CancellationToken cancellationToken) => inner.ParkedKeysAsync(cancellationToken);

        public ValueTask<long?> ReplayAsync(long id, CancellationToken cancellationToken) => inner.ReplayAsync(id, cancellationToken);

        public ValueTask<int> DeleteSucceededAsync(DateTimeOffset finishedBefore, int max, CancellationToken cancellationToken) => inner.DeleteSucceededAsync(finishedBefore, max, cancellationToken);
    }
}
