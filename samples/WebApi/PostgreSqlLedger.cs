using Coordination.Ingestion;
using Npgsql;

namespace WebApi;

/// <summary>The ledger of a fleet, in the PostgreSQL database the event log lives in: every instance writes and reads
/// the same balances.</summary>
/// <remarks>It keeps one row per application of an event (its id, the attempt and the process that applied it), so an
/// event applied again after a crash (at-least-once) shows in <c>ledger_entries</c>; a balance counts each event id
/// once. The table is created at startup, after the coordination schema.</remarks>
public sealed class PostgreSqlLedger(NpgsqlDataSource dataSource, string schema) : ILedger, IHostedService
{
    private readonly string _table = $"\"{schema}\".ledger_entries";

    /// <inheritdoc />
    public async Task ApplyAsync(EventContext context, string account, decimal amount, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(
            $"insert into {_table} (event_id, account, amount, attempt, pid) values ($1, $2, $3, $4, $5)");
        command.Parameters.Add(new() { Value = context.Id });
        command.Parameters.Add(new() { Value = account });
        command.Parameters.Add(new() { Value = amount });
        command.Parameters.Add(new() { Value = context.Attempt });
        command.Parameters.Add(new() { Value = Environment.ProcessId });
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <inheritdoc />
    public async Task<IReadOnlyDictionary<string, decimal>> BalancesAsync(CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand($"""
            select account, sum(amount) from (select distinct on (event_id) account, amount from {_table}) applied
            group by account
            """);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var balances = new SortedDictionary<string, decimal>(StringComparer.Ordinal);
        while (await reader.ReadAsync(cancellationToken))
        {
            balances.Add(reader.GetString(0), reader.GetDecimal(1));
        }

        return balances;
    }

    /// <inheritdoc />
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand($"""
            create table if not exists {_table} (
                seq bigint generated always as identity primary key,
                event_id bigint not null,
                account text not null,
                amount numeric not null,
                attempt integer not null,
                pid integer not null,
                applied_at timestamptz not null default clock_timestamp())
            """);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <inheritdoc />
    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
