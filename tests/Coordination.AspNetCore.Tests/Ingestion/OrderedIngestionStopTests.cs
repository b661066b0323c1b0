using System.Net;
using System.Net.Http.Json;
using Coordination.Tests.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Time.Testing;

namespace Coordination.Tests.Ingestion;

/// <summary>Stopping an ingestion: bounded by the host's shutdown timeout, every unfinished event reported and left
/// pending, and no accepted event lost to a stop racing its append.</summary>
public sealed class OrderedIngestionStopTests
{
    private static readonly TimeSpan ShutdownTimeout = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task Stop_WithAHandlerIgnoringItsToken_ReturnsAtTheShutdownTimeout_AndReportsWhatIsLeft()
    {
        var time = new FakeTimeProvider();
        await using var app = StoppableApp(time);
        var client = app.CreateClient();
        var journal = app.Journal();
        try
        {
            var ids = await client.PostAsync(new ScriptedEvent("h", 1, "gate"), new ScriptedEvent("h", 2, "ok"));
            Gate.WaitUntil(() => journal.Entered == 1, "the first handler runs and ignores its token");

            var stop = app.Ingestion().StopAsync(CancellationToken.None);
            Assert.False(stop.IsCompleted);
            time.AdvanceUntil(() => stop.IsCompleted, TimeSpan.FromSeconds(1), "the stop returns at the shutdown timeout");

            Assert.All(ids, id => Assert.Equal("Pending", client.Status(id).State));
            var logs = app.Services.GetFakeLogCollector();
            var summary = Assert.Single(logs.GetSnapshot(), r => r.Id.Id == 205);
            Assert.Equal(LogLevel.Error, summary.Level);
            Assert.Contains("2 accepted events unfinished", summary.Message, StringComparison.Ordinal);
            Assert.Equal(ids, ReportedIds(logs));
        }
        finally
        {
            journal.Gate.TrySetResult();
        }
    }

    [Fact]
    public async Task Stop_CutsOffAHandler_WhichGivesItsAttemptBack_AndReportsEveryUnfinishedId()
    {
        // One attempt only: counted, the cut-off attempt would dead-letter the event.
        var time = new FakeTimeProvider();
        await using var app = StoppableApp(time, o => o.MaxAttempts = 1);
        var client = app.CreateClient();
        var ids = await client.PostAsync([new ScriptedEvent("c", 0, "cancellable"), .. Enumerable.Range(1, 29).Select(i => new ScriptedEvent("c", i, "ok"))]);
        Gate.WaitUntil(() => app.Journal().Entered == 1, "the first handler runs until its token is cancelled");

        var stop = app.Ingestion().StopAsync(CancellationToken.None);
        time.AdvanceUntil(() => stop.IsCompleted, TimeSpan.FromSeconds(1), "the stop returns at the shutdown timeout");

        var first = client.Status(ids[0]);
        Assert.Equal(("Pending", 0), (first.State, first.Attempts));
        Assert.All(ids, id => Assert.Equal("Pending", client.Status(id).State));
        var logs = app.Services.GetFakeLogCollector();
        Assert.Contains("30 accepted events unfinished", Assert.Single(logs.GetSnapshot(), r => r.Id.Id == 205).Message, StringComparison.Ordinal);
        Assert.Equal(ids, ReportedIds(logs));
    }

    [Fact]
    public async Task PostWhoseAppendIsInProgressWhenTheStopBegins_IsHandledBeforeTheStopReturns()
    {
        // The key selector runs inside the append: holding it holds the append in progress.
        using var holdAppend = new ManualResetEventSlim();
        var appending = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var app = IngestionTestApp.Create(o => o.KeySelector = e =>
        {
            if (e.Account == "slow")
            {
                appending.TrySetResult();
                holdAppend.Wait(TestTimeouts.Default);
            }

            return e.Account;
        });
        var client = app.CreateClient();

        var post = client.PostAsJsonAsync("/events", new[] { new ScriptedEvent("slow", 1, "ok") });
        await appending.Task.DefaultTimeout();
        var stop = app.Ingestion().StopAsync(CancellationToken.None);
        Assert.False(stop.IsCompleted);
        holdAppend.Set();

        var response = await post.DefaultTimeout();
        await stop.DefaultTimeout();

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var id = (await response.Content.ReadFromJsonAsync<IngestionTestApp.Accepted>())!.Ids[0];
        Assert.Equal("Succeeded", client.Status(id).State);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await client.PostAsJsonAsync("/events", new[] { new ScriptedEvent("late", 1, "ok") })).StatusCode);
    }

    private static CoordinationTestApp StoppableApp(FakeTimeProvider time, Action<Coordination.Ingestion.OrderedIngestionOptions<ScriptedEvent>>? configure = null) =>
        IngestionTestApp.Create(configure, time, s =>
        {
            s.AddLogging(logging => logging.AddFakeLogging());
            s.Configure<HostOptions>(o => o.ShutdownTimeout = ShutdownTimeout);
        });

    /// <summary>The ids the unfinished-event entries (206) list, in order.</summary>
    private static long[] ReportedIds(FakeLogCollector logs) =>
        [.. logs.GetSnapshot()
            .Where(r => r.Id.Id == 206)
            .SelectMany(r => r.Message[(r.Message.LastIndexOf(':') + 1)..].TrimEnd('.').Split(", "))
            .Select(id => long.Parse(id, System.Globalization.CultureInfo.InvariantCulture))];
}
