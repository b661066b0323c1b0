using System.Collections.Concurrent;
using Coordination.Ingestion;

namespace Coordination.Tests.Ingestion;

/// <summary>An event that tells its handler what to do: "ok" (or anything unknown), "retry:N" (fail N times, then
/// succeed), "permanent", "gate" (wait for <see cref="HandlerJournal.Gate"/>, ignoring the token, then succeed) or
/// "cancellable" (wait until the handler's token is cancelled).</summary>
public sealed record ScriptedEvent(string Account, int Sequence, string Script);

/// <summary>Every handler call, in order, across keys.</summary>
public sealed class HandlerJournal
{
    private long _sequence;
    private int _entered;

    public ConcurrentQueue<(long Order, long Id, string Key, int Attempt, string Outcome)> Calls { get; } = new();

    public ConcurrentDictionary<long, int> Running { get; } = new();

    /// <summary>Holds events scripted "gate" until the test opens it.</summary>
    public TaskCompletionSource Gate { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Called as each handler call starts, on the handler's thread.</summary>
    public Action<EventContext>? OnCall { get; set; }

    /// <summary>How many handler calls started.</summary>
    public int Entered => Volatile.Read(ref _entered);

    public void Enter(EventContext context)
    {
        Interlocked.Increment(ref _entered);
        OnCall?.Invoke(context);
    }

    public void Record(EventContext context, string outcome) => Calls.Enqueue((Interlocked.Increment(ref _sequence), context.Id, context.Key, context.Attempt, outcome));
}

public sealed class ScriptedHandler(HandlerJournal journal) : IEventHandler<ScriptedEvent>
{
    public async Task HandleAsync(ScriptedEvent ingested, EventContext context, CancellationToken cancellationToken)
    {
        journal.Enter(context);
        switch (ingested.Script)
        {
            case "gate":
                await journal.Gate.Task;
                break;
            case "cancellable":
                await Task.Delay(Timeout.Infinite, cancellationToken);
                break;
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
                    journal.Record(context, "permanent");
                    throw new PermanentEventException("scripted permanent failure");
                case ["retry", var times] when context.Attempt <= int.Parse(times, System.Globalization.CultureInfo.InvariantCulture):
                    journal.Record(context, "failed");
                    throw new InvalidOperationException("scripted retryable failure");
                default:
                    journal.Record(context, "succeeded");
                    return;
            }
        }
        finally
        {
            journal.Running.AddOrUpdate(context.Id, 0, (_, n) => n - 1);
        }
    }
}
