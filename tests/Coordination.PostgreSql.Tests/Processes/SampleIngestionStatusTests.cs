using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace Coordination.Tests.Processes;

/// <summary>The status endpoint and the <c>coordination.ingestion.*</c> metrics report the same on the PostgreSQL log as
/// on the in-memory one: the sample runs the same events on each, side by side.</summary>
public sealed class SampleIngestionStatusTests
{
    private static readonly object[] Events =
    [
        new { accountId = "a", type = "credit", amount = 10m },
        new { accountId = "a", type = "flaky", amount = 5m },   // fails twice, its account waits, then succeeds
        new { accountId = "a", type = "credit", amount = 1m },
        new { accountId = "b", type = "invalid", amount = 7m }, // dead-lettered; then replayed, and dead-lettered again
        new { accountId = "b", type = "credit", amount = 2m },
    ];

    [Fact]
    public async Task SameEvents_OnBothLogs_SameStatuses_SameMetrics_SameBalances()
    {
        await using var inMemory = await SampleProcess.StartAsync(schema: null);
        await using var onPostgreSql = await SampleProcess.StartAsync(TestDatabase.NewSchemaName());
        using var http = new HttpClient();

        var memory = await RunAsync(http, inMemory.Url());
        var postgres = await RunAsync(http, onPostgreSql.Url());

        Assert.Equal(memory.Statuses, postgres.Statuses);
        Assert.Equal(["Succeeded", "Succeeded", "Succeeded", "Succeeded", "DeadLettered"], memory.Statuses.Select(s => s.State));
        Assert.Equal(3, memory.Statuses[1].Attempts);
        Assert.Equal(memory.Balances, postgres.Balances);
        Assert.Equal("""{"a":16,"b":2}""", postgres.Balances);

        // Counters reach their final values a moment after the state is saved, and the exporter caches a scrape briefly.
        var metrics = await WaitUntilAsync(
            async () => (Memory: await IngestionMetricsAsync(http, inMemory.Url()), PostgreSql: await IngestionMetricsAsync(http, onPostgreSql.Url())),
            both => both.Memory.SequenceEqual(both.PostgreSql) && both.Memory.Contains("coordination_ingestion_events_total result=succeeded 4"));
        Assert.Equal(metrics.Memory, metrics.PostgreSql);
        Assert.Contains("coordination_ingestion_events_total result=accepted 6", metrics.PostgreSql);
        Assert.Contains("coordination_ingestion_events_total result=failed 2", metrics.PostgreSql);
    }

    /// <summary>Posts the events, waits until each has ended, replays the dead letter and waits for its copy; returns
    /// every event's status (ids relative to the first, as the two logs number events differently) and the balances.</summary>
    private static async Task<(List<Status> Statuses, string Balances)> RunAsync(HttpClient http, string url)
    {
        using var response = await http.PostAsJsonAsync($"{url}/orders/events", Events);
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var ids = (await response.Content.ReadFromJsonAsync<Accepted>())!.Ids.ToList();
        await WaitUntilAsync(() => StatusesAsync(http, url, ids, ids[0]), statuses => statuses.All(s => s.Ended));

        using var replay = await http.PostAsync($"{url}/orders/events/{ids[3]}/replay", content: null);
        Assert.Equal(HttpStatusCode.Accepted, replay.StatusCode);
        ids.AddRange((await replay.Content.ReadFromJsonAsync<Accepted>())!.Ids);
        var statuses = await WaitUntilAsync(() => StatusesAsync(http, url, ids.Where((_, i) => i != 3), ids[0]), statuses => statuses.All(s => s.Ended));

        // The replayed dead letter is gone from the log; its copy took its place, after the account's other events.
        using var replayed = await http.GetAsync($"{url}/orders/events/{ids[3]}");
        Assert.Equal(HttpStatusCode.NotFound, replayed.StatusCode);
        return (statuses, await http.GetStringAsync($"{url}/balances"));
    }

    private static async Task<List<Status>> StatusesAsync(HttpClient http, string url, IEnumerable<long> ids, long first)
    {
        var statuses = new List<Status>();
        foreach (var id in ids)
        {
            using var status = JsonDocument.Parse(await http.GetStringAsync($"{url}/orders/events/{id}"));
            var root = status.RootElement;
            statuses.Add(new Status(
                root.GetProperty("id").GetInt64() - first,
                root.GetProperty("key").GetString()!,
                root.GetProperty("state").GetString()!,
                root.GetProperty("attempts").GetInt32(),
                root.GetProperty("lastError").GetString(),
                root.GetProperty("blockingId").ValueKind == JsonValueKind.Null ? null : root.GetProperty("blockingId").GetInt64() - first));
        }

        return statuses;
    }

    /// <summary>The ingestion counters of the scrape, one line each: name, result, value (the histogram's count only,
    /// since its sums are times).</summary>
    private static async Task<List<string>> IngestionMetricsAsync(HttpClient http, string url)
    {
        var lines = new List<string>();
        foreach (var line in (await http.GetStringAsync($"{url}/metrics")).Split('\n'))
        {
            if ((line.StartsWith("coordination_ingestion_events_total{", StringComparison.Ordinal) || line.StartsWith("coordination_ingestion_lag_seconds_count{", StringComparison.Ordinal))
                && line.Split(' ') is [var series, var value, ..])
            {
                var name = series[..series.IndexOf('{', StringComparison.Ordinal)];
                var result = series.Split("coordination_ingestion_result=\"")[1].Split('"')[0];
                lines.Add($"{name} result={result} {double.Parse(value, CultureInfo.InvariantCulture)}");
            }
        }

        lines.Sort(StringComparer.Ordinal);
        return lines;
    }

    /// <summary>Polls another process until <paramref name="done"/> holds (its progress reaches the test no other way);
    /// fails after the default test timeout.</summary>
    private static async Task<T> WaitUntilAsync<T>(Func<Task<T>> read, Func<T, bool> done)
    {
        using var timeout = new CancellationTokenSource(TestTimeouts.Default);
        while (true)
        {
            var value = await read();
            if (done(value) || timeout.IsCancellationRequested)
            {
                return value;
            }

            await Task.Delay(100, CancellationToken.None);
        }
    }

    private sealed record Accepted(long[] Ids);

    private sealed record Status(long Id, string Key, string State, int Attempts, string? LastError, long? BlockingId)
    {
        public bool Ended => State is "Succeeded" or "DeadLettered";
    }
}
