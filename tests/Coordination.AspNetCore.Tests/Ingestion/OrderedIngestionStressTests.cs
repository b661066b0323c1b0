using Coordination.Ingestion;
using Coordination.Tests.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace Coordination.Tests.Ingestion;

/// <summary>
/// A seeded run over many keys with retryable failures, exhausted retries, permanent failures, parked keys and an
/// operator releasing keys at random moments (from inside other keys' handlers, and between clock steps).
/// </summary>
public sealed class OrderedIngestionStressTests
{
    private const int Keys = 40;
    private const int EventsPerKey = 25;
    private const int MaxAttempts = 3;

    [Theory]
    [InlineData(1616)]
    [InlineData(2026)]
    public async Task ManyKeysWithFailuresParkingAndReleases_KeepEveryKeyInOrder_AndLoseNothing(int seed)
    {
        var random = new Random(seed);
        var scripts = new Dictionary<(string Key, int Sequence), string>();
        var events = new List<ScriptedEvent>();
        for (var sequence = 0; sequence < EventsPerKey; sequence++)
        {
            for (var key = 0; key < Keys; key++)
            {
                var roll = random.Next(100);
                var script = roll switch { < 80 => "ok", < 90 => "retry:1", < 94 => "retry:2", < 97 => "retry:9", _ => "permanent" };
                events.Add(new ScriptedEvent($"k{key}", sequence, script));
            }
        }

        // The clock only moves when the test moves it: until then a failed event backs off and a parked key stays parked.
        var time = new FakeTimeProvider();
        await using var app = IngestionTestApp.Create(
            o =>
            {
                o.OnTerminalFailure = TerminalFailureAction.ParkKey;
                o.MaxAttempts = MaxAttempts;
                o.RetryBackoff = TimeSpan.FromSeconds(1);
                o.MaxRetryBackoff = TimeSpan.FromSeconds(4);
                o.Workers = 3;
                o.BatchSize = 20;
            },
            time);
        var client = app.CreateClient();
        var journal = app.Journal();
        var log = app.Services.GetRequiredKeyedService<IEventLog>("events");
        var ids = new List<long>();
        foreach (var batch in events.Chunk(25))
        {
            ids.AddRange(await client.PostAsync(batch));
        }

        var eventOf = ids.Zip(events).ToDictionary(p => p.First, p => p.Second);
        var idsOf = ids.GroupBy(id => eventOf[id].Account).ToDictionary(g => g.Key, g => g.OrderBy(id => id).ToList());

        // Phase 1, nothing released and the clock still: every event not behind a held event of its own key is
        // handled, so no key waited for another key's failure, backoff, backlog or parking.
        var firstHeld = idsOf.ToDictionary(k => k.Key, k => k.Value.FirstOrDefault(id => eventOf[id].Script != "ok"));
        Gate.WaitUntil(
            () => idsOf.All(k => k.Value.TakeWhile(id => id != firstHeld[k.Key]).All(id => State(id) == EventState.Succeeded)
                && (firstHeld[k.Key] == 0 || State(firstHeld[k.Key]) is EventState.Failed or EventState.DeadLettered)),
            "every key is handled up to its first failing event");
        Assert.DoesNotContain(journal.Calls, c => firstHeld[c.Key] != 0 && c.Id > firstHeld[c.Key]);

        // Phase 2: an operator releases parked keys at random moments while handlers run and the clock moves.
        var operatorRandom = new Random(seed);
        void ReleaseARandomParkedKey()
        {
            var parked = log.ParkedKeysAsync(default).AsTask().Result.Order(StringComparer.Ordinal).ToList();
            string? key;
            lock (operatorRandom)
            {
                key = parked.Count > 0 && operatorRandom.Next(4) == 0 ? parked[operatorRandom.Next(parked.Count)] : null;
            }

            if (key is not null)
            {
                app.Ingestion().ReleaseKeyAsync(key).AsTask().Wait();
            }
        }

        journal.OnCall = _ => ReleaseARandomParkedKey();
        for (var step = 0; !SpinWait.SpinUntil(AllTerminal, TimeSpan.FromMilliseconds(20)); step++)
        {
            Assert.True(step < 3000, "Timed out moving the clock and releasing keys until every event is terminal.");
            ReleaseARandomParkedKey();
            time.Advance(TimeSpan.FromMilliseconds(500));
        }

        journal.OnCall = null;

        // Assert, for every key: handled in id order; every event terminal exactly once, as its script says; nothing lost.
        var calls = journal.Calls.OrderBy(c => c.Order).ToList();
        foreach (var (key, keyIds) in idsOf)
        {
            var handled = calls.Where(c => c.Key == key).Select(c => c.Id).ToList();
            Assert.True(handled.SequenceEqual(handled.Order()), $"{key} was handled out of order: {string.Join(",", handled)}");
        }

        Assert.Equal(Keys * EventsPerKey, ids.Distinct().Count());
        foreach (var id in ids)
        {
            var script = eventOf[id].Script;
            var outcomes = calls.Where(c => c.Id == id).Select(c => c.Outcome).ToList();
            var expected = script switch
            {
                "ok" => ["succeeded"],
                "permanent" => ["permanent"],
                _ when int.Parse(script["retry:".Length..], System.Globalization.CultureInfo.InvariantCulture) is var failures and < MaxAttempts
                    => [.. Enumerable.Repeat("failed", failures), "succeeded"],
                _ => Enumerable.Repeat("failed", MaxAttempts).ToList(),
            };
            Assert.True(expected.SequenceEqual(outcomes), $"event {id} ({script}): expected {string.Join(",", expected)}, handled {string.Join(",", outcomes)}");
            Assert.Equal(expected[^1] == "succeeded" ? EventState.Succeeded : EventState.DeadLettered, State(id));
        }

        EventState State(long id) => log.GetAsync(id, default).AsTask().Result!.State;

        bool AllTerminal() => log.ReadPendingAsync(0, 1, default).AsTask().Result.Count == 0;
    }
}
