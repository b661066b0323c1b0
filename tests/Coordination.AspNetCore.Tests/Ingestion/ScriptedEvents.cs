using System.Collections.Concurrent;
using Coordination.Ingestion;

namespace Coordination.Tests.Ingestion;

/// <summary>An event that tells its handler what to do: "ok", "retry:N" (fail N times, then succeed) or "permanent".</summary>
public sealed record ScriptedEvent(string Account, int Sequence, string Script);

/// <summary>Every handler call, in order, across keys.</summary>
public sealed class HandlerJournal
{
    private long _sequence;

    public ConcurrentQueue<(long Order, long Id, string Key, string Outcome)> Calls { get; } = new();

    public ConcurrentDictionary<long, int> Running { get; } = new();

    /// <summary>Holds events scripted "gate" until the test opens it.</summary>
    public TaskCompletionSource Gate { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public void Record(long id, string key, string outcome) => Calls.Enqueue((Interlocked.Increment(ref _sequence), id, key, outcome));
}

public sealed class ScriptedHandler(HandlerJournal journal) : IEventHandler<ScriptedEvent>
{
    public async Task HandleAsync(ScriptedEvent ingested, EventContext context, CancellationToken cancellationToken)
    {
        if (ingested.Script == "gate")
        {
            await journal.Gate.Task;
        }

        if (journal.Running.AddOrUpdate(context.Id, 1, (_, n) => n + 1) > 1)
        {
            throw new InvalidOperationException($"event {context.Id} ran twice at once");
        }

        try
        {
            switch (ingested.Script.Split(':'))
            {
                case ["permanent"]:
                    journal.Record(context.Id, context.Key, "permanent");
                    throw new PermanentEventException("scripted permanent failure");
                case ["retry", var times] when context.Attempt <= int.Parse(times, System.Globalization.CultureInfo.InvariantCulture):
                    journal.Record(context.Id, context.Key, "failed");
                    throw new InvalidOperationException("scripted retryable failure");
                default:
                    journal.Record(context.Id, context.Key, "succeeded");
                    return;
            }
        }
        finally
        {
            journal.Running.AddOrUpdate(context.Id, 0, (_, n) => n - 1);
        }
    }
}
