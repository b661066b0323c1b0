using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Net.Http.Json;
using Coordination.Diagnostics;
using Coordination.Ingestion;
using Coordination.Tests.Http;
using Coordination.Tests.Ingestion;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Time.Testing;

namespace Coordination.Tests.Diagnostics;

/// <summary>What ordered ingestion tells a trace viewer and a dashboard: the handling continues the POST's trace, and
/// the lag from accepted to handled is measured.</summary>
public sealed class IngestionTelemetryTests
{
    [Fact]
    public async Task Handling_ContinuesTheTraceOfThePostThatAcceptedTheEvent_WhichTheLogKeeps()
    {
        using var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name is CoordinationDiagnostics.ActivitySourceName or "Microsoft.AspNetCore",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
        };
        ActivitySource.AddActivityListener(listener);
        var requestSpan = default(ActivitySpanId);
        await using var app = IngestionTestApp.Create(beforeEndpoints: pipeline => pipeline.Use(async (context, next) =>
        {
            requestSpan = Activity.Current!.SpanId;
            await next(context);
        }));
        var handling = new TaskCompletionSource<Activity?>(TaskCreationOptions.RunContinuationsAsynchronously);
        app.Journal().OnCall = _ => handling.TrySetResult(Activity.Current);
        var client = app.CreateClient();
        var traceId = ActivityTraceId.CreateRandom();
        using var post = new HttpRequestMessage(HttpMethod.Post, "/events") { Content = JsonContent.Create(new[] { new ScriptedEvent("a", 1, "ok") }) };
        post.Headers.Add("traceparent", $"00-{traceId.ToHexString()}-{ActivitySpanId.CreateRandom().ToHexString()}-01");

        var accepted = await (await client.SendAsync(post)).Content.ReadFromJsonAsync<IngestionTestApp.Accepted>();
        var activity = await handling.Task.DefaultTimeout();

        Assert.NotNull(activity);
        Assert.Equal("coordination.ingestion", activity.OperationName);
        Assert.Equal("coordination.ingestion events", activity.DisplayName);
        Assert.Equal(ActivityKind.Consumer, activity.Kind);
        Assert.Equal(traceId, activity.TraceId);
        Assert.Equal(requestSpan, activity.ParentSpanId);
        var logged = await app.Services.GetRequiredKeyedService<IEventLog>("events").GetAsync(accepted!.Ids[0], CancellationToken.None);
        Assert.Contains(traceId.ToHexString(), logged!.TraceParent, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Lag_FromAcceptedToHandled_IsRecordedPerResult()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 12, 3, 8, 0, 0, TimeSpan.Zero));
        await using var app = IngestionTestApp.Create(time: time);
        using var lag = new MetricCollector<double>(app.Services.GetRequiredService<IMeterFactory>(), CoordinationDiagnostics.MeterName, "coordination.ingestion.lag");
        var client = app.CreateClient();
        var journal = app.Journal();

        // One event is dead-lettered at once; the other is held by its handler while 3 s pass.
        await client.PostAsync(new ScriptedEvent("held", 1, "gate"), new ScriptedEvent("bad", 1, "permanent"));
        Gate.WaitUntil(() => journal.Entered == 2 && lag.GetMeasurementSnapshot().Count == 1, "the permanent failure is dead-lettered and the gated event runs");
        time.Advance(TimeSpan.FromSeconds(3));
        journal.Gate.SetResult();

        Gate.WaitUntil(() => lag.GetMeasurementSnapshot().Count == 2, "the gated event is handled");
        Assert.Equal(
            [("aborted", 0.0), ("succeeded", 3.0)],
            lag.GetMeasurementSnapshot().Select(m => ((string)m.Tags[IngestionMetrics.ResultTag]!, m.Value)).Order());
        Assert.All(lag.GetMeasurementSnapshot(), m => Assert.Equal("events", m.Tags[CoordinationDiagnostics.NameTag]));
    }
}
