using System.Runtime.ExceptionServices;

namespace Coordination.SingleFlight;

/// <summary>How an execution of a flight ended.</summary>
internal enum FlightOutcomeKind
{
    Success,
    Failed,
    TimedOut,
    Dropped,
}

/// <summary>The outcome of one execution, as its waiting callers receive it.</summary>
internal readonly struct FlightOutcome<TKey, TValue>(FlightOutcomeKind kind, TValue? value = default, ExceptionDispatchInfo? error = null, FlightExecution<TKey, TValue>? next = null)
    where TKey : notnull
{
    public FlightOutcomeKind Kind { get; } = kind;

    public TValue? Value { get; } = value;

    public ExceptionDispatchInfo? Error { get; } = error;

    /// <summary>For a dropped execution: the execution of the promoted follower, if any.</summary>
    public FlightExecution<TKey, TValue>? Next { get; } = next;
}

/// <summary>A follower in arrival order, eligible for promotion: a waiter, or the work of a follower that awaits the shared task.</summary>
internal readonly struct FlightCandidate<TKey, TValue>(FlightCaller<TKey, TValue>? waiter, object? state, FlightWork<TKey, TValue>? work, ExecutionContext? context)
    where TKey : notnull
{
    public FlightCaller<TKey, TValue>? Waiter { get; } = waiter;

    public object? State { get; } = state;

    public FlightWork<TKey, TValue>? Work { get; } = work;

    public ExecutionContext? Context { get; } = context;
}

/// <summary>A caller's work as a flight runs it: its state, the execution it runs as (<see langword="null"/> when it runs uncoalesced, past <c>MaxKeys</c>), and its token.</summary>
internal delegate Task<TValue> FlightWork<TKey, TValue>(object? state, FlightExecution<TKey, TValue>? execution, CancellationToken cancellationToken)
    where TKey : notnull;
