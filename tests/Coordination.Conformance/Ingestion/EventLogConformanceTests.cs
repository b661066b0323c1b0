using Coordination.Ingestion;
using Microsoft.Extensions.Time.Testing;

namespace Coordination.Tests.Ingestion;

/// <summary>
/// The behaviour every <see cref="IEventLog"/> must have. Each log gets one derived class; the PostgreSQL log runs the
/// very same tests. Idempotency windows are measured with the clock given to <see cref="CreateLog"/>; retry times come
/// from the dispatcher's clock in <see cref="DispatchQuery.Now"/>.
/// </summary>
public abstract class EventLogConformanceTests
{
    private static readonly IReadOnlySet<string> NoKeys = new HashSet<string>();

    protected FakeTimeProvider Time { get; } = new(new DateTimeOffset(2026, 11, 23, 0, 0, 0, TimeSpan.Zero));

    protected abstract IEventLog CreateLog(TimeProvider time);

    [Fact]
    public async Task Append_AssignsIncreasingIdsInOrder_AndEventsStartPending()
    {
        var log = CreateLog(Time);

        var first = await AppendAsync(log, ("a", "{\"n\":1}"), ("b", "{\"n\":2}"), ("a", "{\"n\":3}"));
        var second = await AppendAsync(log, ("a", "{\"n\":4}"));

        Assert.Equal(AppendOutcome.Appended, first.Outcome);
        Assert.Equal(3, first.Ids.Count);
        Assert.True(first.Ids[0] < first.Ids[1] && first.Ids[1] < first.Ids[2] && first.Ids[2] < second.Ids[0]);
        var third = await log.GetAsync(first.Ids[2], default);
        Assert.Equal(new LoggedEvent(first.Ids[2], "a", "{\"n\":3}") { AcceptedAt = Time.GetUtcNow() }, third);
        Assert.Equal(EventState.Pending, third!.State);
        Assert.Equal(0, third.Attempts);
        Assert.Null(await log.GetAsync(second.Ids[0] + 1000, default));
    }

    [Fact]
    public async Task Append_Cancelled_AppendsNothing()
    {
        var log = CreateLog(Time);

        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
            await log.AppendAsync([new NewEvent("a", "{}")], idempotency: null, new CancellationToken(canceled: true)));

        Assert.Empty(await log.ReadPendingAsync(0, 10, default));
    }

    [Fact]
    public async Task Append_SameIdempotencyKey_ReplaysTheFirstIds_AnotherFingerprintIsRefused_AndAScopeIsItsOwn()
    {
        var log = CreateLog(Time);
        var window = TimeSpan.FromMinutes(10);

        var first = await log.AppendAsync([new NewEvent("a", "{}")], new IdempotentAppend(null, "k1", "f1", window), default);
        var replayed = await log.AppendAsync([new NewEvent("a", "{}")], new IdempotentAppend(null, "k1", "f1", window), default);
        var mismatch = await log.AppendAsync([new NewEvent("a", "{}")], new IdempotentAppend(null, "k1", "f2", window), default);
        var otherScope = await log.AppendAsync([new NewEvent("a", "{}")], new IdempotentAppend("alice", "k1", "f1", window), default);

        Assert.Equal(AppendOutcome.Appended, first.Outcome);
        Assert.Equal(AppendOutcome.Replayed, replayed.Outcome);
        Assert.Equal(first.Ids, replayed.Ids);
        Assert.Equal(AppendOutcome.FingerprintMismatch, mismatch.Outcome);
        Assert.Empty(mismatch.Ids);
        Assert.Equal(AppendOutcome.Appended, otherScope.Outcome);
        Assert.Equal(2, (await log.ReadPendingAsync(0, 10, default)).Count);
    }

    [Fact]
    public async Task Append_IdempotencyKey_IsForgottenAfterItsWindow()
    {
        var log = CreateLog(Time);
        var idempotency = new IdempotentAppend("alice", "k1", "f1", TimeSpan.FromMinutes(10));
        var first = await log.AppendAsync([new NewEvent("a", "{}")], idempotency, default);

        Time.Advance(TimeSpan.FromMinutes(9));
        Assert.Equal(AppendOutcome.Replayed, (await log.AppendAsync([new NewEvent("a", "{}")], idempotency, default)).Outcome);
        Time.Advance(TimeSpan.FromMinutes(1));
        var again = await log.AppendAsync([new NewEvent("a", "{}")], idempotency with { Fingerprint = "f2" }, default);

        Assert.Equal(AppendOutcome.Appended, again.Outcome);
        Assert.True(again.Ids[0] > first.Ids[0]);
        Assert.Equal(AppendOutcome.Replayed, (await log.AppendAsync([new NewEvent("a", "{}")], idempotency with { Fingerprint = "f2" }, default)).Outcome);
    }

    [Fact]
    public async Task ReadDispatchable_ReturnsKeysInTheOrderOfTheirHeads_EachARunFromItsHead()
    {
        var log = CreateLog(Time);
        var ids = (await AppendAsync(log, ("b", "{}"), ("a", "{}"), ("b", "{}"), ("c", "{}"), ("a", "{}"))).Ids;
        await log.SaveStateAsync((await log.GetAsync(ids[0], default))! with { State = EventState.Succeeded, Attempts = 1 }, default);

        var read = await log.ReadDispatchableAsync(Query(), default);

        // a's head (ids[1]) is now older than b's (ids[2]).
        Assert.Equal([ids[1], ids[4], ids[2], ids[3]], read.Select(e => e.Id));
        Assert.Equal(["a", "a", "b", "c"], read.Select(e => e.Key));
    }

    [Fact]
    public async Task ReadDispatchable_SkipsHeldAndParkedKeys_AndKeysBackingOffUntilTheirRetry()
    {
        var log = CreateLog(Time);
        var ids = (await AppendAsync(log, ("held", "{}"), ("parked", "{}"), ("retrying", "{}"), ("retrying", "{}"), ("free", "{}"))).Ids;
        var retryAt = Time.GetUtcNow().AddSeconds(5);
        await log.SaveStateAsync((await log.GetAsync(ids[2], default))! with { State = EventState.Failed, Attempts = 1, LastError = "boom", RetryAt = retryAt }, default);
        await log.SetParkedAsync("parked", parked: true, default);
        var held = new HashSet<string> { "held" };

        var before = await log.ReadDispatchableAsync(Query() with { HeldKeys = held, Now = retryAt.AddTicks(-1) }, default);
        var atRetry = await log.ReadDispatchableAsync(Query() with { HeldKeys = held, Now = retryAt }, default);

        Assert.Equal([ids[4]], before.Select(e => e.Id));
        Assert.Equal([ids[2], ids[3], ids[4]], atRetry.Select(e => e.Id));
        Assert.Equal(EventState.Failed, atRetry[0].State);
    }

    [Fact]
    public async Task ReadDispatchable_StopsAtMaxKeysAndMaxEvents()
    {
        var log = CreateLog(Time);
        var ids = (await AppendAsync(log, ("a", "{}"), ("a", "{}"), ("a", "{}"), ("b", "{}"), ("c", "{}"))).Ids;

        var twoKeys = await log.ReadDispatchableAsync(Query() with { MaxKeys = 2 }, default);
        var fourEvents = await log.ReadDispatchableAsync(Query() with { MaxEvents = 4 }, default);
        var twoEvents = await log.ReadDispatchableAsync(Query() with { MaxEvents = 2 }, default);

        Assert.Equal(ids.Take(4), twoKeys.Select(e => e.Id));
        Assert.Equal(ids.Take(4), fourEvents.Select(e => e.Id));
        Assert.Equal(ids.Take(2), twoEvents.Select(e => e.Id));
    }

    [Fact]
    public async Task SaveState_KeepsEveryField_AndATerminalEventLeavesThePendingReads()
    {
        var log = CreateLog(Time);
        var ids = (await AppendAsync(log, ("a", "{\"x\":1}"), ("a", "{}"), ("a", "{}"))).Ids;
        var retryAt = Time.GetUtcNow().AddMinutes(1);
        var failed = (await log.GetAsync(ids[0], default))! with { State = EventState.Failed, Attempts = 2, LastError = "boom", RetryAt = retryAt };
        var waiting = (await log.GetAsync(ids[1], default))! with { State = EventState.Waiting, BlockingId = ids[0] };
        var dead = (await log.GetAsync(ids[2], default))! with { State = EventState.DeadLettered, Attempts = 5, LastError = "bad" };

        await log.SaveStateAsync(failed, default);
        await log.SaveStateAsync(waiting, default);
        await log.SaveStateAsync(dead, default);

        Assert.Equal(failed, await log.GetAsync(ids[0], default));
        Assert.Equal(waiting, await log.GetAsync(ids[1], default));
        Assert.Equal(dead, await log.GetAsync(ids[2], default));
        Assert.Equal([ids[0], ids[1]], (await log.ReadPendingAsync(0, 10, default)).Select(e => e.Id));
        await log.SaveStateAsync(failed with { State = EventState.Succeeded, Attempts = 3, LastError = null, RetryAt = null }, default);
        Assert.Equal([ids[1]], (await log.ReadDispatchableAsync(Query(), default)).Select(e => e.Id));
    }

    [Fact]
    public async Task SaveState_OfAnEventNotInTheLog_Throws()
    {
        var log = CreateLog(Time);
        var id = (await AppendAsync(log, ("a", "{}"))).Ids[0];

        await Assert.ThrowsAsync<InvalidOperationException>(async () => await log.SaveStateAsync(new LoggedEvent(id + 1000, "a", "{}"), default));
    }

    [Fact]
    public async Task ReadPending_PagesInIdOrder_ThroughEveryKeyThatIsNotTerminal()
    {
        var log = CreateLog(Time);
        var ids = (await AppendAsync(log, ("a", "{}"), ("b", "{}"), ("c", "{}"), ("a", "{}"), ("d", "{}"))).Ids;
        await log.SetParkedAsync("b", parked: true, default);
        await log.SaveStateAsync((await log.GetAsync(ids[2], default))! with { State = EventState.Failed, Attempts = 1, RetryAt = Time.GetUtcNow().AddHours(1) }, default);
        await log.SaveStateAsync((await log.GetAsync(ids[4], default))! with { State = EventState.Succeeded, Attempts = 1 }, default);

        var first = await log.ReadPendingAsync(0, 2, default);
        var second = await log.ReadPendingAsync(first[^1].Id, 2, default);
        var last = await log.ReadPendingAsync(second[^1].Id, 2, default);

        Assert.Equal([ids[0], ids[1]], first.Select(e => e.Id));
        Assert.Equal([ids[2], ids[3]], second.Select(e => e.Id));
        Assert.Empty(last);
    }

    [Fact]
    public async Task SetParked_SaysWhetherItChanged_AndParkedKeysListsThem()
    {
        var log = CreateLog(Time);

        Assert.True(await log.SetParkedAsync("a", parked: true, default));
        Assert.False(await log.SetParkedAsync("a", parked: true, default));
        Assert.True(await log.SetParkedAsync("b", parked: true, default));
        Assert.False(await log.SetParkedAsync("c", parked: false, default));
        Assert.True(await log.SetParkedAsync("b", parked: false, default));

        Assert.Equal(["a"], await log.ParkedKeysAsync(default));
    }

    [Fact]
    public async Task ConcurrentAppends_ToOneKey_BecomeVisibleInIdOrder()
    {
        // A reader must never see a key's id while an earlier id of the key is still invisible: every read's run of
        // the key is a prefix of the key's final ids.
        var log = CreateLog(Time);
        const int Appenders = 8;
        const int AppendsEach = 25;
        using var appending = new CancellationTokenSource();
        var reads = new List<long[]>();
        var reader = Task.Run(async () =>
        {
            while (!appending.IsCancellationRequested)
            {
                var read = await log.ReadDispatchableAsync(Query() with { MaxEvents = 10_000 }, default);
                reads.Add([.. read.Select(e => e.Id)]);
            }
        });

        await Task.WhenAll(Enumerable.Range(0, Appenders).Select(appender => Task.Run(async () =>
        {
            for (var i = 0; i < AppendsEach; i++)
            {
                await AppendAsync(log, ("k", $"{{\"appender\":{appender}}}"));
            }
        })));
        await appending.CancelAsync();
        await reader.WaitAsync(TestTimeouts.Default);

        var all = (await log.ReadPendingAsync(0, 10_000, default)).Select(e => e.Id).ToArray();
        Assert.Equal(Appenders * AppendsEach, all.Length);
        Assert.All(reads, read => Assert.Equal(all.Take(read.Length), read));
    }

    [Fact]
    public async Task Append_KeepsEachEventsTraceContext_AndWhenItWasAccepted_OnEveryRead()
    {
        var log = CreateLog(Time);
        const string TraceParent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        var ids = (await log.AppendAsync([new NewEvent("a", "{}") { TraceParent = TraceParent }, new NewEvent("a", "{}")], null, default)).Ids;
        var acceptedAt = Time.GetUtcNow();
        Time.Advance(TimeSpan.FromSeconds(5));

        var read = await log.ReadDispatchableAsync(Query(), default);

        Assert.Equal([TraceParent, null], read.Select(e => e.TraceParent));
        Assert.All(read, e => Assert.Equal(acceptedAt, e.AcceptedAt));
        Assert.Equal(TraceParent, (await log.GetAsync(ids[0], default))!.TraceParent);
        Assert.Equal(acceptedAt, (await log.ReadPendingAsync(0, 10, default))[0].AcceptedAt);
    }

    [Fact]
    public async Task Replay_OfADeadLetter_AppendsACopyAfterTheKeysPendingEvents_AndRemovesIt()
    {
        var log = CreateLog(Time);
        var ids = (await AppendAsync(log, ("a", "{\"n\":1}"), ("a", "{\"n\":2}"), ("b", "{}"))).Ids;
        await log.SaveStateAsync((await log.GetAsync(ids[0], default))! with { State = EventState.DeadLettered, Attempts = 5, LastError = "bad" }, default);

        var copy = await log.ReplayAsync(ids[0], default);

        Assert.True(copy > ids[2]);
        Assert.Null(await log.GetAsync(ids[0], default));
        Assert.Equal(new LoggedEvent(copy!.Value, "a", "{\"n\":1}") { AcceptedAt = Time.GetUtcNow() }, await log.GetAsync(copy.Value, default));
        Assert.Equal([ids[1], copy.Value, ids[2]], (await log.ReadDispatchableAsync(Query(), default)).Select(e => e.Id));
        Assert.Null(await log.ReplayAsync(ids[0], default));
        Assert.Null(await log.ReplayAsync(ids[1], default));
    }

    [Fact]
    public async Task DeleteSucceeded_RemovesOnlySucceededEventsFinishedBeforeTheCutoff_AtMostMax()
    {
        var log = CreateLog(Time);
        var ids = (await AppendAsync(log, ("a", "{}"), ("a", "{}"), ("a", "{}"), ("b", "{}"), ("c", "{}"))).Ids;
        await SucceedAsync(log, ids[0]);
        await SucceedAsync(log, ids[1]);
        Time.Advance(TimeSpan.FromHours(1));
        await SucceedAsync(log, ids[2]);
        await log.SaveStateAsync((await log.GetAsync(ids[3], default))! with { State = EventState.DeadLettered, Attempts = 1 }, default);
        var cutoff = Time.GetUtcNow();
        Time.Advance(TimeSpan.FromHours(1));

        Assert.Equal(1, await log.DeleteSucceededAsync(cutoff, max: 1, default));
        Assert.Equal(1, await log.DeleteSucceededAsync(cutoff, max: 10, default));
        Assert.Equal(0, await log.DeleteSucceededAsync(cutoff, max: 10, default));

        Assert.Null(await log.GetAsync(ids[0], default));
        Assert.Null(await log.GetAsync(ids[1], default));
        Assert.Equal(EventState.Succeeded, (await log.GetAsync(ids[2], default))!.State);
        Assert.Equal(EventState.DeadLettered, (await log.GetAsync(ids[3], default))!.State);
        Assert.Equal(EventState.Pending, (await log.GetAsync(ids[4], default))!.State);
    }

    protected DispatchQuery Query() => new(MaxKeys: 100, MaxEvents: 100, Time.GetUtcNow(), NoKeys);

    protected static async Task SucceedAsync(IEventLog log, long id) =>
        await log.SaveStateAsync((await log.GetAsync(id, default))! with { State = EventState.Succeeded, Attempts = 1 }, default);

    protected static async Task<AppendResult> AppendAsync(IEventLog log, params (string Key, string Payload)[] events)
    {
        var result = await log.AppendAsync([.. events.Select(e => new NewEvent(e.Key, e.Payload))], idempotency: null, default);
        Assert.Equal(AppendOutcome.Appended, result.Outcome);
        return result;
    }
}
