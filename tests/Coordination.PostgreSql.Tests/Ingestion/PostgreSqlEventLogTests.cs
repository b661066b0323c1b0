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

    [Fact]
    public async Task Save_RacingATakeover_IsRejectedOnceTheTakeoverCommits_AndChangesNothing()
    {
        var schema = await TestDatabase.CreateSchemaAsync();
        var a = new PostgreSqlEventLog(TestDatabase.DataSource, "orders", schema, _time, Lease);
        var id = (await a.AppendAsync([new NewEvent("k", "{}")], idempotency: null, default)).Ids[0];
        await a.AcquireDispatchLeaseAsync(default);
        var readByA = (await a.ReadDispatchableAsync(Query(), default)).Single();

        // Another process takes the lease over in a transaction that has not committed yet when A saves.
        await using var takeover = await TestDatabase.DataSource.OpenConnectionAsync();
        await using var transaction = await takeover.BeginTransactionAsync();
        await using (var update = new Npgsql.NpgsqlCommand($"update \"{schema}\".ingestion_dispatch_leases set token = token + 1, owner = 'other'", takeover, transaction))
        {
            Assert.Equal(1, await update.ExecuteNonQueryAsync());
        }

        var save = a.SaveStateAsync(readByA with { State = EventState.Succeeded, Attempts = 1 }, default).AsTask();
        await Task.WhenAny(save, WaitUntilBlockedOnALockAsync(takeover.ProcessID));
        Assert.False(save.IsCompleted, "the save did not wait for the takeover's commit");
        await transaction.CommitAsync();

        await Assert.ThrowsAsync<DispatchLeaseLostException>(() => save);
        Assert.Equal(EventState.Pending, (await a.GetAsync(id, default))!.State);
    }

    /// <summary>Waits until a session other than the test's is blocked by <paramref name="blockerPid"/>'s locks.</summary>
    private static async Task WaitUntilBlockedOnALockAsync(int blockerPid)
    {
        using var timeout = new CancellationTokenSource(TestTimeouts.Default);
        while (Convert.ToInt64(await TestDatabase.ScalarAsync($"select count(*) from pg_stat_activity where {blockerPid} = any(pg_blocking_pids(pid))"), System.Globalization.CultureInfo.InvariantCulture) == 0)
        {
            await Task.Delay(10, timeout.Token);
        }
    }

    private DispatchQuery Query() => new(10, 10, _time.GetUtcNow(), new HashSet<string>());

    private async Task<(PostgreSqlEventLog A, PostgreSqlEventLog B)> TwoProcessesAsync()
    {
        var schema = await TestDatabase.CreateSchemaAsync();
        return (new PostgreSqlEventLog(TestDatabase.DataSource, "orders", schema, _time, Lease), new PostgreSqlEventLog(TestDatabase.DataSource, "orders", schema, _time, Lease));
    }
}
