using Coordination.Tasks;
using Microsoft.Extensions.Time.Testing;

namespace Coordination.Tests.Tasks;

/// <summary>
/// The behaviour every <see cref="ITaskStore"/> must have. Each store gets one derived class; the PostgreSQL store runs
/// the very same tests. The store's clock is the only clock: tests move it with a <see cref="FakeTimeProvider"/>.
/// </summary>
public abstract class TaskStoreConformanceTests
{
    private static readonly TimeSpan Lease = TimeSpan.FromSeconds(30);

    protected FakeTimeProvider Time { get; } = new(new DateTimeOffset(2026, 11, 23, 0, 0, 0, TimeSpan.Zero));

    protected abstract ITaskStore CreateStore(TimeProvider time);

    [Fact]
    public async Task Create_AssignsIncreasingIds_NeverReusedAfterDelete()
    {
        var store = CreateStore(Time);

        var first = (await store.DoAsync(TaskOp.Create(New("g")), TaskOp.Create(New("g"))));
        await store.DoAsync(TaskOp.Delete(first[1]));
        var next = (await store.DoAsync(TaskOp.Create(New("g"))))[0];

        Assert.True(first[1].Id > first[0].Id);
        Assert.True(next.Id > first[1].Id);
        Assert.Equal(0, next.LeaseVersion);
        Assert.Equal(Time.GetUtcNow(), next.NotBefore);
    }

    [Fact]
    public async Task Query_ClaimsTheSmallestNotBeforeThenId_AndFencesIt()
    {
        var store = CreateStore(Time);
        var later = (await store.DoAsync(TaskOp.Create(New("g") with { NotBefore = Time.GetUtcNow().AddSeconds(-1) })))[0];
        var earlier = (await store.DoAsync(TaskOp.Create(New("g") with { NotBefore = Time.GetUtcNow().AddSeconds(-2) })))[0];

        var claimed = await store.QueryAsync("g", Lease);

        Assert.Equal(earlier.Id, claimed!.Id);
        Assert.Equal(1, claimed.LeaseVersion);
        Assert.Equal(1, claimed.Attempts);
        Assert.Equal(Time.GetUtcNow() + Lease, claimed.NotBefore);
        Assert.Equal(later.Id, (await store.QueryAsync("g", Lease))!.Id);
        Assert.Null(await store.QueryAsync("g", Lease));
    }

    [Fact]
    public async Task Query_FutureTasksAndOtherGroupsAreNotReady_AndZeroOwnForOnlyPeeks()
    {
        var store = CreateStore(Time);
        await store.DoAsync(TaskOp.Create(New("g") with { NotBefore = Time.GetUtcNow().AddMinutes(1) }), TaskOp.Create(New("other")));

        Assert.Null(await store.QueryAsync("g", Lease));
        Assert.Null(await store.QueryAsync("empty", Lease));
        var peeked = await store.QueryAsync("other", TimeSpan.Zero);
        Assert.Equal(0, peeked!.LeaseVersion);
        AssertSameTask(peeked, await store.QueryAsync("other", TimeSpan.Zero));

        Time.Advance(TimeSpan.FromMinutes(1));
        Assert.NotNull(await store.QueryAsync("g", Lease));
    }

    [Fact]
    public async Task ClaimBatch_ClaimsUpToMaxInOrder()
    {
        var store = CreateStore(Time);
        var created = await store.DoAsync([.. Enumerable.Range(0, 5).Select(_ => TaskOp.Create(New("g")))]);

        var batch = await store.ClaimBatchAsync("g", Lease, 3);

        Assert.Equal(created.Take(3).Select(t => t.Id), batch.Select(t => t.Id));
        Assert.All(batch, t => Assert.Equal(1, t.LeaseVersion));
        Assert.Equal(new TaskGroupCounts(2, 3, 0), await store.CountAsync("g"));
    }

    [Fact]
    public async Task Do_IsAtomic_AFailingFenceChangesNothing()
    {
        var store = CreateStore(Time);
        var created = await store.DoAsync(TaskOp.Create(New("g")), TaskOp.Create(New("g")));
        var stale = created[1] with { LeaseVersion = 7 };

        await Assert.ThrowsAsync<LeaseLostException>(() => store.DoAsync(TaskOp.Delete(created[0]), TaskOp.Create(New("h")), TaskOp.Pred(stale)).AsTask());

        Assert.Equal(new TaskGroupCounts(2, 0, 0), await store.CountAsync("g"));
        Assert.Equal(default, await store.CountAsync("h"));
    }

    [Fact]
    public async Task Do_DuplicateTaskInOneCall_IsRejected()
    {
        var store = CreateStore(Time);
        var task = (await store.DoAsync(TaskOp.Create(New("g"))))[0];

        await Assert.ThrowsAsync<ArgumentException>(() => store.DoAsync(TaskOp.Pred(task), TaskOp.Delete(task)).AsTask());

        Assert.Equal(new TaskGroupCounts(1, 0, 0), await store.CountAsync("g"));
    }

    [Fact]
    public async Task LeaseExpires_AnotherWorkerClaimsWithAHigherVersion_AndTheStaleHolderChangesNothing()
    {
        var store = CreateStore(Time);
        await store.DoAsync(TaskOp.Create(New("g")));
        var first = (await store.QueryAsync("g", Lease))!;

        Time.Advance(Lease);
        var second = (await store.QueryAsync("g", Lease))!;

        Assert.Equal(first.Id, second.Id);
        Assert.Equal(first.LeaseVersion + 1, second.LeaseVersion);
        var error = await Assert.ThrowsAsync<LeaseLostException>(() => store.DoAsync(TaskOp.Delete(first)).AsTask());
        Assert.Equal(first.Id, error.TaskId);
        await Assert.ThrowsAsync<LeaseLostException>(() => store.DoAsync(TaskOp.Reown(first, Lease)).AsTask());
        await store.DoAsync(TaskOp.Delete(second));
        Assert.Equal(default, await store.CountAsync("g"));
    }

    [Fact]
    public async Task LeaseLost_TellsAGoneTaskFromOneClaimedSince()
    {
        var store = CreateStore(Time);
        await store.DoAsync(TaskOp.Create(New("g")));
        var first = (await store.QueryAsync("g", Lease))!;
        Time.Advance(Lease);
        var second = (await store.QueryAsync("g", Lease))!;

        var claimedSince = await Assert.ThrowsAsync<LeaseLostException>(() => store.DoAsync(TaskOp.Delete(first)).AsTask());
        await store.DoAsync(TaskOp.Delete(second));
        var gone = await Assert.ThrowsAsync<LeaseLostException>(() => store.DoAsync(TaskOp.Delete(second)).AsTask());

        Assert.False(claimedSince.TaskGone);
        Assert.True(gone.TaskGone);
        Assert.Equal((second.Id, second.LeaseVersion), (gone.TaskId, gone.LeaseVersion));
    }

    [Fact]
    public async Task Reown_RenewsToAnAbsoluteTime_NotByAdding()
    {
        var store = CreateStore(Time);
        await store.DoAsync(TaskOp.Create(New("g")));
        var claimed = (await store.QueryAsync("g", Lease))!;

        Time.Advance(TimeSpan.FromSeconds(10));
        var renewed = (await store.DoAsync(TaskOp.Reown(claimed, Lease)))[0];
        renewed = (await store.DoAsync(TaskOp.Reown(renewed, Lease)))[0];

        Assert.Equal(Time.GetUtcNow() + Lease, renewed.NotBefore);
        Assert.Equal(claimed.LeaseVersion, renewed.LeaseVersion);
    }

    [Fact]
    public async Task Move_ToAnErrorGroup_KeepsTheErrorAndIsReadyThere()
    {
        var store = CreateStore(Time);
        await store.DoAsync(TaskOp.Create(New("g")));
        var claimed = (await store.QueryAsync("g", Lease))!;

        await store.DoAsync(TaskOp.Move(claimed, "g.errors", "poison"));

        var failed = (await store.QueryAsync("g.errors", TimeSpan.Zero))!;
        Assert.Equal(claimed.Id, failed.Id);
        Assert.Equal("poison", failed.Error);
        Assert.Equal(default, await store.CountAsync("g"));
    }

    [Fact]
    public async Task Update_ReplacesValuesButKeepsIdAndVersion()
    {
        var store = CreateStore(Time);
        await store.DoAsync(TaskOp.Create(New("g")));
        var claimed = (await store.QueryAsync("g", Lease))!;

        var retry = (await store.DoAsync(TaskOp.Update(claimed with { NotBefore = Time.GetUtcNow().AddSeconds(5), Error = "try again" })))[0];

        Assert.Equal((claimed.Id, claimed.LeaseVersion, "try again"), (retry.Id, retry.LeaseVersion, retry.Error));
        Assert.Null(await store.QueryAsync("g", Lease));
        Time.Advance(TimeSpan.FromSeconds(5));
        Assert.Equal(claimed.LeaseVersion + 1, (await store.QueryAsync("g", Lease))!.LeaseVersion);
    }

    [Fact]
    public async Task CreateAndUpdate_KeepACopyOfThePayload_NotTheCallersBuffer()
    {
        var store = CreateStore(Time);
        var buffer = new byte[] { 1, 2, 3 };

        await store.DoAsync(TaskOp.Create(new TaskItem { Group = "g", Payload = buffer }));
        buffer.AsSpan().Fill(9);
        var claimed = (await store.QueryAsync("g", Lease))!;
        Assert.Equal(new byte[] { 1, 2, 3 }, claimed.Payload.ToArray());

        buffer = [4, 5];
        await store.DoAsync(TaskOp.Update(claimed with { Payload = buffer, NotBefore = default }));
        buffer.AsSpan().Fill(9);
        Assert.Equal(new byte[] { 4, 5 }, (await store.QueryAsync("g", TimeSpan.Zero))!.Payload.ToArray());
    }

    [Fact]
    public async Task Update_CanBringATaskBackFromTheErrorGroup()
    {
        var store = CreateStore(Time);
        await store.DoAsync(TaskOp.Create(New("g")));
        await store.DoAsync(TaskOp.Move((await store.QueryAsync("g", Lease))!, "g.errors", "poison"));
        var dead = (await store.QueryAsync("g.errors", TimeSpan.Zero))!;

        await store.DoAsync(TaskOp.Update(dead with { Group = "g", Attempts = 0, NotBefore = default }));

        Assert.Equal(default, await store.CountAsync("g.errors"));
        var revived = (await store.QueryAsync("g", Lease))!;
        Assert.Equal((dead.Id, 1, "poison"), (revived.Id, revived.Attempts, revived.Error));
    }

    [Fact]
    public async Task RunWithLease_RenewsWhileTheWorkRuns_SoNobodyElseCanClaim()
    {
        var store = new RenewalCountingStore(CreateStore(Time));
        await store.DoAsync(TaskOp.Create(New("g")));
        var claimed = (await store.QueryAsync("g", Lease))!;
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        // Six heartbeats take the clock twice past the original lease: only the renewals keep the task held.
        var run = store.RunWithLeaseAsync(claimed, (_, ct) => gate.Task.WaitAsync(ct), TimeSpan.FromSeconds(10), Lease, Time);
        for (var i = 1; i <= 6; i++)
        {
            Time.Advance(TimeSpan.FromSeconds(10));
            Assert.True(SpinWait.SpinUntil(() => store.Renewals == i, TestTimeouts.Default), $"renewal {i} did not happen");
            Assert.Null(await store.QueryAsync("g", Lease));
        }

        gate.SetResult();
        var held = await run.DefaultTimeout();
        await store.DoAsync(TaskOp.Delete(held));
        Assert.Equal(default, await store.CountAsync("g"));
    }

    [Fact]
    public async Task RunWithLease_LeaseTakenOver_CancelsTheWorkAndThrowsLeaseLost()
    {
        var store = CreateStore(Time);
        await store.DoAsync(TaskOp.Create(New("g")));
        var claimed = (await store.QueryAsync("g", Lease))!;
        var workCancelled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        var run = store.RunWithLeaseAsync(claimed, async (_, ct) =>
        {
            ct.Register(() => workCancelled.TrySetResult());
            await Task.Delay(Timeout.Infinite, ct);
        }, TimeSpan.FromSeconds(10), Lease, Time);

        // The task goes away under the holder (an operator deleted it, or another holder completed it).
        await store.DoAsync(TaskOp.Delete(claimed));
        await store.DoAsync(TaskOp.Create(New("g")));
        Time.Advance(TimeSpan.FromSeconds(10));

        await workCancelled.Task.DefaultTimeout();
        var error = await Assert.ThrowsAsync<LeaseLostException>(() => run).DefaultTimeout();
        Assert.Equal(claimed.Id, error.TaskId);
    }

    [Fact]
    public async Task ReadyAt_IsSetWhenTheTaskBecomesReady_AndKeptByClaimsAndRenewals()
    {
        var store = CreateStore(Time);
        var due = Time.GetUtcNow().AddSeconds(-5);
        var created = (await store.DoAsync(TaskOp.Create(New("g") with { NotBefore = due, ReadyAt = Time.GetUtcNow().AddDays(1) })))[0];
        Assert.Equal(due, created.ReadyAt);

        var claimed = (await store.QueryAsync("g", Lease))!;
        Time.Advance(TimeSpan.FromSeconds(3));
        var renewed = (await store.DoAsync(TaskOp.Reown(claimed, Lease)))[0];
        Assert.Equal((due, due), (claimed.ReadyAt, renewed.ReadyAt));

        var disowned = (await store.DoAsync(TaskOp.Disown(renewed, TimeSpan.FromSeconds(10))))[0];
        Assert.Equal(Time.GetUtcNow().AddSeconds(10), disowned.ReadyAt);
        Assert.Equal(disowned.ReadyAt, disowned.NotBefore);
    }

    [Fact]
    public async Task Count_TellsLeasedFromScheduled()
    {
        var store = CreateStore(Time);
        await store.DoAsync(TaskOp.Create(New("g")), TaskOp.Create(New("g")), TaskOp.Create(New("g")), TaskOp.Create(New("g") with { NotBefore = Time.GetUtcNow().AddMinutes(1) }));

        var claimed = (await store.QueryAsync("g", Lease))!;
        Assert.Equal(new TaskGroupCounts(2, 1, 1), await store.CountAsync("g"));

        await store.DoAsync(TaskOp.Disown(claimed, TimeSpan.FromSeconds(10)));
        Assert.Equal(new TaskGroupCounts(2, 0, 2), await store.CountAsync("g"));

        Time.Advance(TimeSpan.FromMinutes(1));
        Assert.Equal(new TaskGroupCounts(4, 0, 0), await store.CountAsync("g"));
        Assert.Equal(4, (await store.CountAsync("g")).Total);
    }

    [Fact]
    public async Task Disown_GivesTheTaskBackAfterTheDelay_FencedAndKeepingTheError()
    {
        var store = CreateStore(Time);
        await store.DoAsync(TaskOp.Create(New("g")));
        var claimed = (await store.QueryAsync("g", Lease))!;

        await store.DoAsync(TaskOp.Disown(claimed, TimeSpan.FromSeconds(5), "boom"));
        await Assert.ThrowsAsync<LeaseLostException>(() => store.DoAsync(TaskOp.Disown(claimed with { LeaseVersion = 0 })).AsTask());
        Assert.Null(await store.QueryAsync("g", Lease));
        Time.Advance(TimeSpan.FromSeconds(5));
        var again = (await store.QueryAsync("g", Lease))!;
        Assert.Equal((claimed.Id, claimed.LeaseVersion + 1, 2, "boom"), (again.Id, again.LeaseVersion, again.Attempts, again.Error));

        var handedOn = (await store.DoAsync(TaskOp.Disown(again)))[0];
        Assert.Equal((Time.GetUtcNow(), "boom"), (handedOn.NotBefore, handedOn.Error));
    }

    [Fact]
    public async Task Claim_TakesAReadyTaskByIdForAWorker_NullWhileAnotherClaimLives()
    {
        var store = CreateStore(Time);
        var task = (await store.DoAsync(TaskOp.Create(New("g"))))[0];

        var claim = (await store.ClaimAsync("g", task.Id, "w1", Lease))!;

        Assert.Equal(("w1", Time.GetUtcNow(), Time.GetUtcNow() + Lease), (claim.WorkerId, claim.ClaimedAt, claim.ExpiresAt));
        Assert.Equal((task.Id, 1L, 1), (claim.Task.Id, claim.Task.LeaseVersion, claim.Task.Attempts));
        Assert.Null(await store.ClaimAsync("g", task.Id, "w2", Lease));
        Assert.Null(await store.ClaimAsync("g", task.Id, "w1", Lease));
        Assert.Null(await store.QueryAsync("g", Lease));
        await Assert.ThrowsAsync<ClaimNotFoundException>(() => store.ClaimAsync("other", task.Id, "w2", Lease).AsTask());
        await Assert.ThrowsAsync<ClaimNotFoundException>(() => store.ClaimAsync("g", task.Id + 100, "w2", Lease).AsTask());

        Time.Advance(Lease);
        var takeover = (await store.ClaimAsync("g", task.Id, "w2", Lease))!;
        Assert.Equal(2, takeover.Task.LeaseVersion);

        // Writes under a claim are fenced like any lease: the first holder's completion changes nothing.
        await Assert.ThrowsAsync<LeaseLostException>(() => store.DoAsync(TaskOp.Delete(claim.Task)).AsTask());
        await store.DoAsync(TaskOp.Delete(takeover.Task));
        Assert.Equal(default, await store.CountAsync("g"));
    }

    [Fact]
    public async Task Release_ByTheOwnerMakesTheTaskReadyAtOnce_OthersGetClaimLost_NoClaimGetsNotFound()
    {
        var store = CreateStore(Time);
        var created = await store.DoAsync(TaskOp.Create(New("g")), TaskOp.Create(New("g")));
        var claim = (await store.ClaimAsync("g", created[0].Id, "w1", Lease))!;

        var lost = await Assert.ThrowsAsync<ClaimLostException>(() => store.ReleaseAsync("g", claim.Task.Id, "w2").AsTask());
        Assert.Equal((claim.Task.Id, "w2"), (lost.TaskId, lost.WorkerId));
        await Assert.ThrowsAsync<ClaimNotFoundException>(() => store.ReleaseAsync("g", created[1].Id, "w1").AsTask());
        await Assert.ThrowsAsync<ClaimNotFoundException>(() => store.ReleaseAsync("g", created[1].Id + 100, "w1").AsTask());

        await store.ReleaseAsync("g", claim.Task.Id, "w1");

        Assert.Equal(new TaskGroupCounts(2, 0, 0), await store.CountAsync("g"));
        var next = (await store.QueryAsync("g", Lease))!;
        Assert.Equal((claim.Task.Id, 2L), (next.Id, next.LeaseVersion));

        // Now an anonymous lease holds it: the old owner's release is refused.
        await Assert.ThrowsAsync<ClaimLostException>(() => store.ReleaseAsync("g", claim.Task.Id, "w1").AsTask());
    }

    [Fact]
    public async Task Extend_IsAbsolute_AndALapsedClaimIsNotRevived()
    {
        var store = CreateStore(Time);
        var task = (await store.DoAsync(TaskOp.Create(New("g"))))[0];
        var claim = (await store.ClaimAsync("g", task.Id, "w1", Lease))!;

        Time.Advance(TimeSpan.FromSeconds(10));
        var extended = await store.ExtendAsync("g", task.Id, "w1", Lease);
        extended = await store.ExtendAsync("g", task.Id, "w1", Lease);

        Assert.Equal(Time.GetUtcNow() + Lease, extended.ExpiresAt);
        Assert.Equal((claim.ClaimedAt, claim.Task.LeaseVersion), (extended.ClaimedAt, extended.Task.LeaseVersion));
        Assert.Null(await store.QueryAsync("g", Lease));
        await Assert.ThrowsAsync<ClaimLostException>(() => store.ExtendAsync("g", task.Id, "w2", Lease).AsTask());

        // Nobody took the task, but the claim ran out: the holder must learn that, not quietly get it back.
        Time.Advance(Lease);
        await Assert.ThrowsAsync<ClaimLostException>(() => store.ExtendAsync("g", task.Id, "w1", Lease).AsTask());
        Assert.NotNull(await store.ClaimAsync("g", task.Id, "w2", Lease));
        await Assert.ThrowsAsync<ClaimLostException>(() => store.ExtendAsync("g", task.Id, "w1", Lease).AsTask());
        await Assert.ThrowsAsync<ClaimLostException>(() => store.ReleaseAsync("g", task.Id, "w1").AsTask());
    }

    [Fact]
    public async Task Claim_WithoutATtl_LastsUntilReleased()
    {
        var store = CreateStore(Time);
        var task = (await store.DoAsync(TaskOp.Create(New("g"))))[0];

        var claim = (await store.ClaimAsync("g", task.Id, "w1", Timeout.InfiniteTimeSpan))!;
        Time.Advance(TimeSpan.FromDays(400));

        Assert.Equal(DateTimeOffset.MaxValue, claim.ExpiresAt);
        Assert.Null(await store.ClaimAsync("g", task.Id, "w2", Lease));
        Assert.Null(await store.QueryAsync("g", Lease));
        Assert.Equal(new TaskGroupCounts(0, 1, 0), await store.CountAsync("g"));
        Assert.Equal(DateTimeOffset.MaxValue, (await store.ExtendAsync("g", task.Id, "w1", Lease)).ExpiresAt);
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => store.ClaimAsync("g", task.Id, "w1", TimeSpan.FromSeconds(-5)).AsTask());

        await store.ReleaseAsync("g", task.Id, "w1");
        var next = (await store.QueryAsync("g", Lease))!;
        Assert.Equal((task.Id, 2L), (next.Id, next.LeaseVersion));
    }

    [Fact]
    public async Task FindAvailable_ListsReadyTasksWithoutClaiming_TasksThisWorkerGaveBackLast()
    {
        var store = CreateStore(Time);
        var created = await store.DoAsync(
            TaskOp.Create(New("g1")),
            TaskOp.Create(New("g1")),
            TaskOp.Create(New("g2")),
            TaskOp.Create(New("g1") with { NotBefore = Time.GetUtcNow().AddMinutes(1) }),
            TaskOp.Create(New("g2")));
        var (a, b, c, leased) = (created[0].Id, created[1].Id, created[2].Id, created[4].Id);
        await store.ClaimAsync("g2", leased, "w3", Lease);
        await store.ClaimAsync("g1", a, "w1", Lease);
        await store.ReleaseAsync("g1", a, "w1");

        Assert.Equal([b, c, a], (await store.FindAvailableAsync("w1", 10)).Select(t => t.Id));
        Assert.Equal([a, b, c], (await store.FindAvailableAsync("w2", 10)).Select(t => t.Id));
        Assert.Equal([b, c], (await store.FindAvailableAsync("w1", 2)).Select(t => t.Id));
        Assert.Equal([c], (await store.FindAvailableAsync("w1", 10, ["g2"])).Select(t => t.Id));
        Assert.Equal(new TaskGroupCounts(2, 0, 1), await store.CountAsync("g1"));
    }

    /// <summary>Compares two tasks field by field, the payload by its bytes (a store may hand back a copy).</summary>
    protected static void AssertSameTask(TaskItem expected, TaskItem? actual)
    {
        ArgumentNullException.ThrowIfNull(expected);
        Assert.NotNull(actual);
        Assert.Equal(expected with { Payload = default }, actual with { Payload = default });
        Assert.Equal(expected.Payload.ToArray(), actual.Payload.ToArray());
    }

    private static TaskItem New(string group) => new() { Group = group, Payload = "{}"u8.ToArray(), ContentType = "application/json" };

    /// <summary>Passes everything through and counts the lease renewals that succeeded.</summary>
    private sealed class RenewalCountingStore(ITaskStore inner) : DelegatingTaskStore(inner)
    {
        private int _renewals;

        public int Renewals => Volatile.Read(ref _renewals);

        public override async ValueTask<IReadOnlyList<TaskItem>> DoAsync(IReadOnlyList<TaskOp> operations, CancellationToken cancellationToken = default)
        {
            var results = await Inner.DoAsync(operations, cancellationToken);
            if (operations is [{ Kind: TaskOpKind.Reown }])
            {
                Interlocked.Increment(ref _renewals);
            }

            return results;
        }
    }
}
