using System.Collections.Concurrent;
using Coordination.Ingestion;

namespace WebApi;

/// <summary>An order event; events of one account must be applied in the order they were produced.</summary>
public sealed record OrderEvent(string AccountId, string Type, decimal Amount);

/// <summary>Keeps a balance per account, and shows what ordered ingestion does with failures.</summary>
/// <remarks>An event with <c>"type": "flaky"</c> fails on its first two attempts (its account waits meanwhile);
/// <c>"type": "invalid"</c> fails for good and is dead-lettered. Handling is at-least-once (a crash or a stop between
/// the handler and the log's update runs the event again), so the ledger applies each event id once. Clients that
/// retry a POST send an <c>Idempotency-Key</c> header so the retry is not a second event.</remarks>
public sealed class OrderEventHandler(Ledger ledger, RunCounter runs) : IEventHandler<OrderEvent>
{
    public Task HandleAsync(OrderEvent ingested, EventContext context, CancellationToken cancellationToken)
    {
        runs.Ran("orders.handled");
        switch (ingested.Type)
        {
            case "invalid":
                throw new PermanentEventException($"Order event {context.Id} has an unknown type.");
            case "flaky" when context.Attempt <= 2:
                throw new InvalidOperationException("The ledger was briefly unavailable.");
            default:
                ledger.Apply(context.Id, ingested.AccountId, ingested.Amount);
                return Task.CompletedTask;
        }
    }
}

/// <summary>Account balances, and the events already applied to them.</summary>
public sealed class Ledger
{
    private readonly ConcurrentDictionary<string, decimal> _balances = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<long, bool> _applied = new();

    /// <summary>Applies an event once: an event handled again (at-least-once) changes nothing the second time.</summary>
    public void Apply(long eventId, string account, decimal amount)
    {
        if (_applied.TryAdd(eventId, true))
        {
            _balances.AddOrUpdate(account, amount, (_, balance) => balance + amount);
        }
    }

    public IReadOnlyDictionary<string, decimal> Balances() => new SortedDictionary<string, decimal>(_balances, StringComparer.Ordinal);
}
