using System.Collections.Concurrent;
using Coordination.Ingestion;

namespace WebApi;

/// <summary>An order event; events of one account must be applied in the order they were produced.</summary>
public sealed record OrderEvent(string AccountId, string Type, decimal Amount);

/// <summary>Keeps a balance per account, and shows what ordered ingestion does with failures.</summary>
/// <remarks>An event with <c>"type": "flaky"</c> fails on its first two attempts (its account waits meanwhile);
/// <c>"type": "invalid"</c> fails for good and is dead-lettered. Handling is at-least-once (a crash or a stop between
/// the handler and the log's update runs the event again), so the ledger is given the event id and counts each event
/// once. Clients that retry a POST send an <c>Idempotency-Key</c> header so the retry is not a second event.</remarks>
public sealed class OrderEventHandler(ILedger ledger, RunCounter runs) : IEventHandler<OrderEvent>
{
    public Task HandleAsync(OrderEvent ingested, EventContext context, CancellationToken cancellationToken)
    {
        runs.Ran("orders.handled");
        return ingested.Type switch
        {
            "invalid" => throw new PermanentEventException($"Order event {context.Id} has an unknown type."),
            "flaky" when context.Attempt <= 2 => throw new InvalidOperationException("The ledger was briefly unavailable."),
            _ => ledger.ApplyAsync(context, ingested.AccountId, ingested.Amount, cancellationToken),
        };
    }
}
