using System.Globalization;
using Coordination.Ingestion;
using Coordination.PostgreSql;

namespace Coordination.Tests.Processes;

/// <summary>Ordered ingestion in real processes on one database, killed with <c>kill -9</c> and restarted: every
/// accepted event is handled, each key in id order; an event in flight at a kill may be handled again (at least once).</summary>
public sealed class IngestionCrashTests
{
    [Fact]
    public async Task TwoProcesses_TheDispatcherKilledAndRestarted_EveryEventHandled_EachKeyInIdOrder()
    {
        const int Keys = 20;
        const int EventsPerKey = 25;
        var (schema, log) = await CreateAsync();
        await using var a = await ChildProcess.StartIngestionWorkerAsync(schema, workers: 8, leaseSeconds: 2, retryMilliseconds: 100);
        await using var b = await ChildProcess.StartIngestionWorkerAsync(schema, workers: 8, leaseSeconds: 2, retryMilliseconds: 100);

        // Round by round, one event of every key, ten events per append; one event in 20 fails its first attempt.
        var appended = new List<long>();
        for (var n = 0; n < EventsPerKey; n++)
        {
            foreach (var chunk in Enumerable.Range(0, Keys).Chunk(10))
            {
                appended.AddRange(await AppendAsync(log, [.. chunk.Select(key => ($"k{key}", n, (key * 7 + n) % 20 == 0 ? "retry" : "ok"))]));
            }
        }

        await WaitUntilAsync(() => CountAsync($"select count(*) from \"{schema}\".handled"), count => count >= 100);
        var dispatcher = a.Seen.Any(IsHandled) ? a : b;
        var killedPid = dispatcher.Id;
        await dispatcher.KillAsync();
        await using var restarted = await ChildProcess.StartIngestionWorkerAsync(schema, workers: 8, leaseSeconds: 2, retryMilliseconds: 100);
        await WaitUntilAsync(() => CountAsync($"select count(distinct event_id) from \"{schema}\".handled"), count => count == appended.Count);

        var handled = await HandledAsync(schema);
        Assert.Equal(appended.Order(), handled.Select(h => h.Id).Distinct().Order());
        AssertEachKeyInIdOrder(handled);

        // At least once: only events the killed process had handled but not yet recorded as succeeded run twice.
        var twice = handled.GroupBy(h => h.Id).Where(g => g.Count() > 1).ToList();
        Assert.All(twice, g => Assert.Equal(killedPid, g.First().Pid));
        Assert.Equal(0, await CountAsync($"select count(*) from \"{schema}\".ingestion_events where state < 3"));
    }

    [Fact]
    public async Task OnlyProcessRestarted_WithAcceptedEventsAndABlockedKey_AllAreHandled_TheKeyWaitingForItsRetry()
    {
        var (schema, log) = await CreateAsync();
        var blocked = await AppendAsync(log, ("blocked", 0, "retry"), ("blocked", 1, "ok"), ("free", 0, "ok"));
        List<long> late;
        DateTimeOffset retryAt;
        await using (var first = await ChildProcess.StartIngestionWorkerAsync(schema, workers: 4, leaseSeconds: 2, retryMilliseconds: 3000))
        {
            await first.WaitForAsync(line => line == $"failed {blocked[0]}", 1);
            retryAt = await WaitUntilAsync(
                async () => await TestDatabase.ScalarAsync($"select retry_at from \"{schema}\".ingestion_events where id = {blocked[0]} and state = 2") as DateTime?,
                at => at is not null) is { } at ? new DateTimeOffset(at, TimeSpan.Zero) : default;
            await first.KillAsync();

            // Accepted while no process runs.
            late = await AppendAsync(log, ("blocked", 2, "ok"), ("free", 1, "ok"), ("other", 0, "ok"));
        }

        await using var restarted = await ChildProcess.StartIngestionWorkerAsync(schema, workers: 4, leaseSeconds: 2, retryMilliseconds: 3000);
        await WaitUntilAsync(() => CountAsync($"select count(distinct event_id) from \"{schema}\".handled"), count => count == 6);

        var handled = await HandledAsync(schema);
        Assert.Equal([blocked[0], blocked[1], late[0]], handled.Where(h => h.Key == "blocked").Select(h => h.Id));
        Assert.True(handled.Single(h => h.Id == blocked[0]).At >= retryAt, "the blocked key waited for its retry");
        Assert.Equal(2, handled.Single(h => h.Id == blocked[0]).Attempt);
    }

    /// <summary>Each key handled in id order: an id repeats only right after itself (run again), never after a later one.</summary>
    internal static void AssertEachKeyInIdOrder(IEnumerable<(string Key, long Id, int Pid, int Attempt, DateTimeOffset At)> handled)
    {
        foreach (var key in handled.GroupBy(h => h.Key))
        {
            var ids = key.Select(h => h.Id).ToList();
            Assert.True(ids.Zip(ids.Skip(1)).All(pair => pair.First <= pair.Second), $"key {key.Key} was handled out of order: {string.Join(", ", ids)}");
        }
    }

    internal static bool IsHandled(string line) => line.StartsWith("handled ", StringComparison.Ordinal);

    internal static async Task<(string Schema, PostgreSqlEventLog Log)> CreateAsync()
    {
        var schema = await TestDatabase.CreateSchemaAsync();
        await TestDatabase.ScalarAsync($"""
            create table "{schema}".handled (
                seq bigint generated always as identity primary key, key text not null, event_id bigint not null, n integer not null,
                pid integer not null, attempt integer not null, at timestamptz not null default clock_timestamp())
            """);
        return (schema, new PostgreSqlEventLog(TestDatabase.DataSource, "steps", schema));
    }

    internal static async Task<List<long>> AppendAsync(PostgreSqlEventLog log, params (string Key, int N, string Script)[] events)
    {
        var result = await log.AppendAsync([.. events.Select(e => new NewEvent(e.Key, $$"""{"key":"{{e.Key}}","n":{{e.N}},"script":"{{e.Script}}"}"""))], idempotency: null, default);
        return [.. result.Ids];
    }

    internal static async Task<List<(string Key, long Id, int Pid, int Attempt, DateTimeOffset At)>> HandledAsync(string schema)
    {
        var rows = new List<(string, long, int, int, DateTimeOffset)>();
        await using var command = TestDatabase.DataSource.CreateCommand($"select key, event_id, pid, attempt, at from \"{schema}\".handled order by seq");
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            rows.Add((reader.GetString(0), reader.GetInt64(1), reader.GetInt32(2), reader.GetInt32(3), reader.GetFieldValue<DateTimeOffset>(4)));
        }

        return rows;
    }

    internal static async Task<int> CountAsync(string sql) => Convert.ToInt32(await TestDatabase.ScalarAsync(sql), CultureInfo.InvariantCulture);

    /// <summary>Polls the database until <paramref name="done"/> holds; fails after the default test timeout.</summary>
    internal static async Task<T> WaitUntilAsync<T>(Func<Task<T>> read, Func<T, bool> done)
    {
        using var timeout = new CancellationTokenSource(TestTimeouts.Default);
        while (true)
        {
            var value = await read();
            if (done(value))
            {
                return value;
            }

            await Task.Delay(50, timeout.Token);
        }
    }
}
