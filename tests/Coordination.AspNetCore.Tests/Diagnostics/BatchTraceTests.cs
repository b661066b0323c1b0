using System.Collections.Concurrent;
using System.Diagnostics;
using Coordination.AspNetCore;
using Coordination.Batching;
using Coordination.Diagnostics;
using Coordination.Tests.Batching;
using Coordination.Tests.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Coordination.Tests.Diagnostics;

public sealed class BatchTraceTests
{
    [Fact]
    public async Task Batch_IsAnActivity_LinkedToEachCallersActivity()
    {
        var stopped = new ConcurrentQueue<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name is CoordinationDiagnostics.ActivitySourceName or nameof(BatchTraceTests),
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = stopped.Enqueue,
        };
        ActivitySource.AddActivityListener(listener);
        using var callers = new ActivitySource(nameof(BatchTraceTests));
        var store = new TestStore();
        await using var services = InstrumentTests.CountersOn(store);
        var processor = services.GetRequiredKeyedService<BatchProcessor<Counter>>("counters");
        store.HoldLoads();

        var requests = new List<(Activity Request, Task Call)>();
        for (var i = 0; i < 2; i++)
        {
            using var request = callers.StartActivity($"request {i}")!;
            requests.Add((request, processor.RunAsync("a", c => c.Value++)));
        }

        store.ReleaseLoads();
        await Task.WhenAll(requests.Select(r => r.Call)).DefaultTimeout();

        Gate.WaitUntil(() => stopped.Any(a => a.OperationName == "coordination.batch"), "the batch activity stops");
        var batch = Assert.Single(stopped, a => a.OperationName == "coordination.batch");
        Assert.Equal("coordination.batch counters", batch.DisplayName);
        Assert.Equal(requests.Select(r => r.Request.SpanId.ToHexString()).Order(), batch.Links.Select(l => l.Context.SpanId.ToHexString()).Order());
    }
}
