using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace Coordination.Tests.Processes;

/// <summary>Two instances of the sample service, two processes on one database: the fleet shares one email queue.</summary>
public sealed class SampleFleetTests
{
    private const int Emails = 1000;

    [Fact]
    public async Task TwoSampleInstances_OneDatabase_EveryEmailPostedToEitherIsSentOnce()
    {
        var schema = TestDatabase.NewSchemaName();
        await using var first = await SampleProcess.StartAsync(schema);
        await using var second = await SampleProcess.StartAsync(schema);
        using var http = new HttpClient();
        var instances = new[] { first.Url(), second.Url() };

        await Parallel.ForAsync(0, Emails, new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (i, ct) =>
        {
            using var response = await http.PostAsJsonAsync($"{instances[i % 2]}/emails", new { to = "ada@example.com", subject = $"email {i}", body = "hi" }, ct);
            Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        });

        // The workers of both instances drain the shared queue; poll its counts (another process's progress has no event).
        using (var timeout = new CancellationTokenSource(TestTimeouts.Default))
        using (var poll = new PeriodicTimer(TimeSpan.FromMilliseconds(100)))
        {
            while (await PendingAsync(http, instances[0]) > 0)
            {
                await poll.WaitForNextTickAsync(timeout.Token);
            }
        }

        var sent = new List<string>();
        foreach (var instance in instances)
        {
            using var outbox = JsonDocument.Parse(await http.GetStringAsync($"{instance}/emails/sent"));
            var subjects = outbox.RootElement.EnumerateArray().Select(e => e.GetProperty("subject").GetString()!).ToList();
            Assert.NotEmpty(subjects);
            sent.AddRange(subjects);
        }

        Assert.Equal(Emails, sent.Count);
        Assert.Equal(Emails, sent.Distinct().Count());
    }

    private static async Task<int> PendingAsync(HttpClient http, string instance)
    {
        using var counts = JsonDocument.Parse(await http.GetStringAsync($"{instance}/tasks/emails"));
        var root = counts.RootElement;
        Assert.Equal(0, root.GetProperty("errors").GetInt32());
        return root.GetProperty("ready").GetInt32() + root.GetProperty("leased").GetInt32() + root.GetProperty("scheduled").GetInt32();
    }
}
