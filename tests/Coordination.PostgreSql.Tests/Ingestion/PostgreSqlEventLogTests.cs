using Coordination.Ingestion;
using Coordination.PostgreSql;
using Microsoft.Extensions.Time.Testing;

namespace Coordination.Tests.Ingestion;

/// <summary>The dispatch lease of the PostgreSQL log: one process dispatches at a time, and a former holder's writes
/// are rejected.</summary>
public sealed class PostgreSqlEventLogTests
{
    private static readonly TimeSpan Lease = TimeSpan.FromSeconds(15);

    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 12, 3, 8, 0, 0, TimeSpan.Zero));

    [Fact]
    public async Task DispatchLease_IsHeldByOneProcess_AndPassesOnlyAfterItLapsesOrIsReleased()
    {
        var (a, b) = await TwoProcessesAsync();

        var first = await a.AcquireDispatchLeaseAsync(default);
        Assert.Null(await b.AcquireDispatchLeaseAsync(default));
        _time.Advance(TimeSpan.FromSeconds(10));
        Assert.Equal(first, await a.AcquireDispatchLeaseAsync(default)); // renewed until 00:25
        _time.Advance(TimeSpan.FromSeconds(14));
        Assert.Null(await b.AcquireDispatchLeaseAsync(default));
        _time.Advance(TimeSpan.FromSeconds(1));
        var second = await b.AcquireDispatchLeaseAsync(default);
        _time.Advance(TimeSpan.FromSeconds(6));
        Assert.Null(await a.AcquireDispatchLeaseAsync(default));
        await b.DisposeAsync();
        Assert.Null(await a.AcquireDispatchLeaseAsync(default)); // refused a moment ago: it asks again after a fifteenth of the lease
        _time.Advance(TimeSpan.FromSeconds(1));
        var third = await a.AcquireDispatchLeaseAsync(default);

        Assert.NotNull(first);
        Assert.True(second > first);
        Assert.True(third > second);
    }

    [Fact]
    public async Task Saves_UnderALeaseThatPassed_AreRejected_AndChangeNothing()
    {
        var (a, b) = await TwoProcessesAsync();
        var id = (await a.AppendAsync([new NewEvent("k", "{}")], idempotency: null, default)).Ids[0];
        await a.AcquireDispatchLeaseAsync(default);
        var readByA = (await a.ReadDispatchableAsync(Query(), default)).Single();
        _time.Advance(Lease);
        await b.AcquireDispatchLeaseAsync(default);
        var readByB = (await b.ReadDispatchableAsync(Query(), default)).Single();

        await Assert.ThrowsAsync<DispatchLeaseLostException>(async () => await a.SaveStateAsync(readByA with { State = EventState.Failed, Attempts = 1, RetryAt = _time.GetUtcNow() }, default));
        Assert.False(await a.SetParkedAsync("k", parked: true, default));
        Assert.Empty(await b.ParkedKeysAsync(default));
        Assert.Equal(EventState.Pending, (await b.GetAsync(id, default))!.State);

        await b.SaveStateAsync(readByB with { State = EventState.Succeeded, Attempts = 1 }, default);
        Assert.Equal(EventState.Succeeded, (await a.GetAsync(id, default))!.State);
        Assert.True(readByB.LeaseToken > readByA.LeaseToken);
    }

    private DispatchQuery Query() => new(10, 10, _time.GetUtcNow(), new HashSet<string>());

    private async Task<(PostgreSqlEventLog A, PostgreSqlEventLog B)> TwoProcessesAsync()
    {
        var schema = await TestDatabase.CreateSchemaAsync();
        return (new PostgreSqlEventLog(TestDatabase.DataSource, "orders", schema, _time, Lease), new PostgreSqlEventLog(TestDatabase.DataSource, "orders", schema, _time, Lease));
    }
}
