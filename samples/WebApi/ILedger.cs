using Coordination.Ingestion;

namespace WebApi;

/// <summary>Account balances, fed by the order events.</summary>
public interface ILedger
{
    /// <summary>Applies an order event to an account. Called at least once per event: a second call with the same
    /// event id must not change a balance again.</summary>
    Task ApplyAsync(EventContext context, string account, decimal amount, CancellationToken cancellationToken);

    /// <summary>The balance of every account, by account.</summary>
    Task<IReadOnlyDictionary<string, decimal>> BalancesAsync(CancellationToken cancellationToken);
}
