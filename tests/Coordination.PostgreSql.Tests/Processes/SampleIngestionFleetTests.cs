using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace Coordination.Tests.Processes;

/// <summary>The sample's ordered ingestion of order events on a fleet: two instances on one database, events posted to
/// both over HTTP, some failing and retried. The sample's ledger records every application of an event (its id, the
/// attempt and the process) in <c>ledger_entries</c>, in the order they happen.</summary>
public sealed class SampleIngestionFleetTests
{
    private const int Accounts = 50;
    private const int EventsPerAccount = 100;
    private const int AccountsPerPost = 10;

    // The dispatch lease passes to the other instance this long after its holder is killed.
    private static readonly KeyValuePair<string, string> ShortLease = new("Coordination__DispatchLeaseDuration", "00:00:02");

    [Fact]
    public async Task TwoInstances_EventsPostedToBoth_EachAccountHandledInIdOrder_EveryEventOnce()
    {
        var schema = TestDatabase.NewSchemaName();
        await using var first = await SampleProcess.StartAsync(schema, ShortLease);
        await using var second = await SampleProcess.StartAsync(schema, ShortLease);
        using var http = new HttpClient();
        var accepted = new Accepted();

        await PostRoundsAsync(http, 0, EventsPerAccount, [first.Url(), second.Url()], accepted);
        var entries = await WaitForEveryEventAsync(schema, accepted);

        AssertEachAccountInIdOrder(accepted, entries, killedPid: null);
        Assert.Equal(accepted.Ids.Values.Sum(ids => ids.Count), entries.Count); // exactly once: no process died
    }

    [Fact]
    public async Task TwoInstances_TheDispatcherKilledAndRestartedMidway_EachAccountInIdOrder_EveryEventAtLeastOnce()
    {
        var schema = TestDatabase.NewSchemaName();
        await using var first = await SampleProcess.StartAsync(schema, ShortLease);
        await using var second = await SampleProcess.StartAsync(schema, ShortLease);
        using var http = new HttpClient();
        var accepted = new Accepted();

        await PostRoundsAsync(http, 0, 40, [first.Url(), second.Url()], accepted);
        await IngestionCrashTests.WaitUntilAsync(() => IngestionCrashTests.CountAsync($"select count(*) from \"{schema}\".ledger_entries"), count => count >= 1000);

        // One instance dispatches at a time (the one holding the dispatch lease): kill that one, in the middle of it.
        var dispatcherPid = await IngestionCrashTests.CountAsync($"select pid from \"{schema}\".ledger_entries order by seq desc limit 1");
        var (killed, survivor) = dispatcherPid == first.Id ? (first, second) : (second, first);
        Assert.Equal(dispatcherPid, killed.Id);
        await killed.KillAsync();

        // Accepted by the survivor alone while the other is down; then by both once it is back.
        await PostRoundsAsync(http, 40, 70, [survivor.Url()], accepted);
        await using var restarted = await SampleProcess.StartAsync(schema, ShortLease);
        await PostRoundsAsync(http, 70, EventsPerAccount, [survivor.Url(), restarted.Url()], accepted);
        var entries = await WaitForEveryEventAsync(schema, accepted);

        AssertEachAccountInIdOrder(accepted, entries, killedPid: dispatcherPid);

        // At least once: an event applied again is one the killed process applied and had not yet marked succeeded;
        // each of its workers had at most one such event in flight.
        var again = entries.GroupBy(e => e.EventId).Where(g => g.Count() > 1).ToList();
        Assert.All(again, g => Assert.Equal(dispatcherPid, g.First().Pid));
        Assert.InRange(again.Count, 0, 4 * Environment.ProcessorCount);
    }

    /// <summary>Posts rounds <paramref name="from"/> to <paramref name="to"/> (one event of every account per round, in
    /// posts of ten accounts, sent at once and spread over <paramref name="instances"/>), a round after the previous one
    /// was accepted; one event in 40 is "flaky" (fails twice, then succeeds).</summary>
    private static async Task PostRoundsAsync(HttpClient http, int from, int to, string[] instances, Accepted accepted)
    {
        for (var round = from; round < to; round++)
        {
            var posts = Enumerable.Range(0, Accounts).Chunk(AccountsPerPost).Select(async (accounts, post) =>
            {
                var events = accounts.Select(account => new
                {
                    accountId = $"acct-{account:D2}",
                    type = (account * 7 + round) % 40 == 0 ? "flaky" : "credit",
                    amount = 1m,
                }).ToArray();
                using var response = await http.PostAsJsonAsync($"{instances[(round + post) % instances.Length]}/orders/events", events);
                Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
                using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
                var ids = body.RootElement.GetProperty("ids").EnumerateArray().Select(id => id.GetInt64()).ToArray();
                return events.Zip(ids, (e, id) => (e.accountId, id, flaky: e.type == "flaky"));
            });
            foreach (var (account, id, flaky) in (await Task.WhenAll(posts)).SelectMany(events => events))
            {
                (accepted.Ids.TryGetValue(account, out var ids) ? ids : accepted.Ids[account] = []).Add(id);
                if (flaky)
                {
                    accepted.Flaky.Add(id);
                }
            }
        }
    }

    private static async Task<List<LedgerEntry>> WaitForEveryEventAsync(string schema, Accepted accepted)
    {
        var total = accepted.Ids.Values.Sum(ids => ids.Count);
        await IngestionCrashTests.WaitUntilAsync(() => IngestionCrashTests.CountAsync($"select count(distinct event_id) from \"{schema}\".ledger_entries"), count => count == total);

        var entries = new List<LedgerEntry>();
        await using var command = TestDatabase.DataSource.CreateCommand($"select account, event_id, attempt, pid from \"{schema}\".ledger_entries order by seq");
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            entries.Add(new(reader.GetString(0), reader.GetInt64(1), reader.GetInt32(2), reader.GetInt32(3)));
        }

        Assert.Equal(0, await IngestionCrashTests.CountAsync($"select count(*) from \"{schema}\".ingestion_events where state < 3"));
        return entries;
    }

    /// <summary>For every account, the events applied are exactly the accepted ones, in id order with no gap; an event
    /// is applied again only by <paramref name="killedPid"/>'s run being repeated, never after a later event of its
    /// account; flaky events were applied on their third attempt (their failures were persisted and retried).</summary>
    private static void AssertEachAccountInIdOrder(Accepted accepted, List<LedgerEntry> entries, int? killedPid)
    {
        Assert.Equal(accepted.Ids.Keys.Order(), entries.Select(e => e.Account).Distinct().Order());
        foreach (var account in entries.GroupBy(e => e.Account))
        {
            var applied = account.Select(e => e.EventId).ToList();
            var highest = 0L;
            foreach (var id in applied)
            {
                Assert.True(id >= highest, $"{account.Key}: event {id} was applied after event {highest} of the same account: {string.Join(", ", applied)}");
                highest = id;
            }

            Assert.Equal(accepted.Ids[account.Key], applied.Distinct());
            if (killedPid is null)
            {
                Assert.Equal(applied.Count, applied.Distinct().Count());
            }
        }

        Assert.NotEmpty(accepted.Flaky);
        Assert.All(entries.Where(e => accepted.Flaky.Contains(e.EventId)), e => Assert.True(e.Attempt >= 3, $"flaky event {e.EventId} was applied on attempt {e.Attempt}"));
        Assert.All(entries.Where(e => !accepted.Flaky.Contains(e.EventId)), e => Assert.True(killedPid is not null || e.Attempt == 1, $"event {e.EventId} was applied on attempt {e.Attempt}"));
    }

    /// <summary>The ids of the accepted events, by account in the order they were accepted, and those of the flaky ones.</summary>
    private sealed class Accepted
    {
        public Dictionary<string, List<long>> Ids { get; } = new(StringComparer.Ordinal);

        public HashSet<long> Flaky { get; } = [];
    }

    private sealed record LedgerEntry(string Account, long EventId, int Attempt, int Pid);
}
