using Coordination.Ingestion;

namespace Coordination.Tests.Ingestion;

/// <summary>The event-log conformance suite on the in-memory log, and its reads over long backlogs.</summary>
public sealed class InMemoryEventLogTests : EventLogConformanceTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 3, 8, 0, 0, TimeSpan.Zero);

    protected override IEventLog CreateLog(TimeProvider time) => new InMemoryEventLog(time);

    [Fact]
    public async Task ReadDispatchable_SkipsHeldParkedAndBackingOffKeys_HoweverLongTheirBacklog()
    {
        var log = new InMemoryEventLog();
        var backingOff = await AppendManyAsync(log, "backing-off", 100);
        await AppendManyAsync(log, "held", 100);
        await AppendManyAsync(log, "parked", 100);
        var x = await AppendManyAsync(log, "x", 2);
        var y = await AppendManyAsync(log, "y", 1);
        var head = (await log.GetAsync(backingOff[0], default))!;
        await log.SaveStateAsync(head with { State = EventState.Failed, Attempts = 1, RetryAt = Now.AddMinutes(1) }, default);
        await log.SetParkedAsync("parked", parked: true, default);
        var held = new HashSet<string>(["held"], StringComparer.Ordinal);

        var read = await log.ReadDispatchableAsync(new DispatchQuery(10, 5, Now, held), default);

        Assert.Equal([.. x, .. y], read.Select(e => e.Id));

        // Once the retry is due the key is read again from its head, in id order, within both limits.
        var due = await log.ReadDispatchableAsync(new DispatchQuery(1, 5, Now.AddMinutes(1), held), default);
        Assert.Equal(backingOff.Take(5), due.Select(e => e.Id));
    }

    [Fact]
    public async Task ReadPending_PagesThroughEveryUnfinishedEvent_ParkedAndBackingOffIncluded()
    {
        var log = new InMemoryEventLog();
        var ids = await AppendManyAsync(log, "a", 7);
        await log.SetParkedAsync("a", parked: true, default);
        await log.SaveStateAsync((await log.GetAsync(ids[2], default))! with { State = EventState.Succeeded }, default);
        await log.SaveStateAsync((await log.GetAsync(ids[3], default))! with { State = EventState.Failed, RetryAt = Now }, default);

        var first = await log.ReadPendingAsync(0, 4, default);
        var second = await log.ReadPendingAsync(first[^1].Id, 4, default);

        Assert.Equal([ids[0], ids[1], ids[3], ids[4]], first.Select(e => e.Id));
        Assert.Equal([ids[5], ids[6]], second.Select(e => e.Id));
        Assert.Empty(await log.ReadPendingAsync(ids[6], 4, default));
    }

    private static async Task<IReadOnlyList<long>> AppendManyAsync(InMemoryEventLog log, string key, int count) =>
        (await log.AppendAsync([.. Enumerable.Range(0, count).Select(i => new NewEvent(key, $"{{\"n\":{i}}}"))], idempotency: null, default)).Ids;
}
