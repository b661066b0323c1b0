using System.Collections.Concurrent;
using Coordination.Ingestion;

namespace WebApi;

/// <summary>The ledger of a single instance, in memory: lost on restart, like the in-memory event log.</summary>
public sealed class InMemoryLedger : ILedger
{
    private readonly ConcurrentDictionary<string, decimal> _balances = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<long, bool> _applied = new();

    /// <inheritdoc />
    public Task ApplyAsync(EventContext context, string account, decimal amount, CancellationToken cancellationToken)
    {
        if (_applied.TryAdd(context.Id, true))
        {
            _balances.AddOrUpdate(account, amount, (_, balance) => balance + amount);
        }

        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public Task<IReadOnlyDictionary<string, decimal>> BalancesAsync(CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyDictionary<string, decimal>>(new SortedDictionary<string, decimal>(_balances, StringComparer.Ordinal));
}
