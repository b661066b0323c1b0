using System.Diagnostics;
using System.Runtime.ExceptionServices;
using Coordination.Diagnostics;

namespace Coordination.SingleFlight;

/// <summary>
/// One key's entry in a <see cref="SingleFlightGroup{TKey, TValue}"/>: lives from the first call until its result is
/// published. It owns its lock, its counters and every transition (join, leave, drop, close, decide); each transition
/// asserts the invariants before it lets go of the lock.
/// </summary>
/// <remarks>
/// A flight has one current execution at a time. When its leader drops before a result, the oldest eligible waiting
/// follower is promoted and its work becomes the current execution, at most <c>MaxPromotions</c> times. A closed
/// flight takes no more callers; it leaves the table before its result is visible.
/// </remarks>
internal sealed class Flight<TKey, TValue>
    where TKey : notnull
{
    private FlightExecution<TKey, TValue> _current = null!;
    private bool _closed;
    private int _live;
    private int _followers;
    private int _promotions;
    private volatile bool _removed;

    /// <summary>Whether the first execution's leader, holding its work's task, reported that its caller left.</summary>
    private bool _leaderLeft;
    private Queue<FlightCandidate<TKey, TValue>>? _waiting;
    private SharedFlightResult<TKey, TValue>? _shared;

    /// <summary>How many of the queued candidates are followers that await the shared task (always eligible).</summary>
    private int _sharedCandidates;

    public Flight(SingleFlightGroup<TKey, TValue> group, TKey key, bool countedActive)
    {
        Group = group;
        Key = key;
        CountedActive = countedActive;
    }

    public SingleFlightGroup<TKey, TValue> Group { get; }

    public TKey Key { get; }

    /// <summary>Whether the flight was counted in <c>coordination.single_flight.active</c>; decided once, when it is created.</summary>
    public bool CountedActive { get; }

    /// <summary>Whether the flight has left its group's table; set once, by whoever took it out.</summary>
    public bool Removed
    {
        get => _removed;
        set
        {
            Debug.Assert(value, "A flight never goes back into the table.");
            _removed = value;
        }
    }

    /// <summary>The followers that joined, for the followers histogram once the flight ends.</summary>
    public int Followers => Volatile.Read(ref _followers);

    /// <summary>The callers still in the flight (a snapshot).</summary>
    public int Live
    {
        get
        {
            lock (SyncRoot)
            {
                return _live;
            }
        }
    }

    /// <summary>Whether the flight takes no more callers (a snapshot).</summary>
    public bool IsClosed
    {
        get
        {
            lock (SyncRoot)
            {
                return _closed;
            }
        }
    }

    /// <summary>Sets the first execution, before the flight is in the table: its caller is the only one.</summary>
    public void Begin(FlightExecution<TKey, TValue> first)
    {
        Debug.Assert(_current is null, "A flight begins once.");
        _current = first;
        _live = 1;
    }

    /// <summary>
    /// Joins the current execution as a follower, or returns <see langword="null"/> when the flight is closed. A
    /// follower without a <paramref name="waiter"/> (it can neither cancel nor refuse promotion) gets the flight's
    /// shared task in <paramref name="shared"/>; a waiter waits for the execution's outcome.
    /// </summary>
    public FlightExecution<TKey, TValue>? TryJoin(FlightCaller<TKey, TValue>? waiter, object? state, FlightWork<TKey, TValue> work, out Task<TValue>? shared)
    {
        shared = null;
        lock (SyncRoot)
        {
            if (_closed)
            {
                return null;
            }

            var joined = _current;
            _live++;
            _followers++;

            // Candidates on the shared task are always eligible, so once enough of them are queued for every
            // promotion left, nobody behind them can be reached: they need not be queued at all.
            var reachable = _sharedCandidates < Group.MaxPromotions - _promotions;
            if (waiter is null)
            {
                _shared ??= new SharedFlightResult<TKey, TValue>(Group);
                shared = _shared.Task;
                _shared.Followers++;
                if (reachable)
                {
                    Enqueue(new FlightCandidate<TKey, TValue>(null, state, work, ExecutionContext.Capture()));
                    _sharedCandidates++;
                }
            }
            else
            {
                joined.Completion ??= FlightExecution<TKey, TValue>.NewCompletion();
                if (reachable)
                {
                    Enqueue(new FlightCandidate<TKey, TValue>(waiter, null, null, null));
                }
            }

            AssertInvariants();
            return joined;
        }
    }

    /// <summary>
    /// Takes a waiting caller out of the flight: it was cancelled, or it stops waiting after a drop. Returns the
    /// execution that ends because of it (its leader left, or nobody is left to receive its result), with the outcome
    /// to publish; <see langword="null"/> when the flight goes on.
    /// </summary>
    public FlightExecution<TKey, TValue>? Leave(FlightCaller<TKey, TValue> caller, out FlightOutcome<TKey, TValue> outcome)
    {
        outcome = default;
        lock (SyncRoot)
        {
            var current = _current;
            var status = caller.Status;
            caller.Status = FlightCallerStatus.Left;
            _live--;
            FlightExecution<TKey, TValue>? ended = null;
            var leadsCurrent = ReferenceEquals(current.Leader, caller) && !current.Decided;
            if (leadsCurrent && (!Group.LastCallerCancels || status == FlightCallerStatus.Promoted))
            {
                // The leader dropped, or a promoted caller left before its work started: elect the next one.
                ended = current;
                outcome = DropLocked(current, error: null, othersWaiting: _live);
            }
            else if (Group.LastCallerCancels && _live == 0 && !current.Decided)
            {
                // Nobody is left to receive the result: stop the work and free the key.
                ended = current;
                outcome = new FlightOutcome<TKey, TValue>(FlightOutcomeKind.Dropped);
                CloseLocked(current);
            }

            AssertInvariants();
            return ended;
        }
    }

    /// <summary>
    /// The caller of a leader that holds its work's task left before the execution was decided (the work reports it,
    /// see <see cref="ISingleFlightWork{TKey, TValue}"/>): it no longer counts, and when nobody is left (the last caller
    /// cancels) the execution ends, returned with the outcome to publish. <see langword="null"/> when the flight goes
    /// on, or when the report comes too late to matter (decided, superseded, or reported already).
    /// </summary>
    public FlightExecution<TKey, TValue>? LeaderLeft(FlightExecution<TKey, TValue> execution, out FlightOutcome<TKey, TValue> outcome)
    {
        outcome = default;
        lock (SyncRoot)
        {
            if (_leaderLeft || !execution.LeaderHoldsWorkTask || !IsCurrent(execution))
            {
                return null;
            }

            _leaderLeft = true;
            _live--;
            FlightExecution<TKey, TValue>? ended = null;
            if (Group.LastCallerCancels && _live == 0)
            {
                ended = execution;
                outcome = new FlightOutcome<TKey, TValue>(FlightOutcomeKind.Dropped);
                CloseLocked(execution);
            }

            AssertInvariants();
            return ended;
        }
    }

    /// <summary>A promoted waiter starts its work.</summary>
    public void Run(FlightCaller<TKey, TValue> caller)
    {
        lock (SyncRoot)
        {
            Debug.Assert(caller.Status is FlightCallerStatus.Promoted or FlightCallerStatus.Left, "Only a promoted caller starts its work.");
            caller.Status = FlightCallerStatus.Running;
        }
    }

    /// <summary>
    /// Decides the flight by the work's completed task, or returns <see langword="null"/> when the execution no
    /// longer decides anything (it timed out, was abandoned or superseded).
    /// </summary>
    public FlightOutcome<TKey, TValue>? Complete(FlightExecution<TKey, TValue> execution, Task<TValue> task, out Exception? error)
    {
        error = null;
        lock (SyncRoot)
        {
            FlightOutcome<TKey, TValue>? outcome = null;
            if (!task.IsCompletedSuccessfully)
            {
                var captured = CaptureError(task);
                error = captured.SourceException;
                if (IsCurrent(execution))
                {
                    if (error is OperationCanceledException)
                    {
                        if (execution.LeaderHoldsWorkTask && !_leaderLeft)
                        {
                            // A leader that gets its work's own task is gone with it (unless it already left).
                            _live--;
                        }

                        outcome = DropLocked(execution, captured, othersWaiting: _live - (execution.Leader is null ? 0 : 1));
                    }
                    else
                    {
                        outcome = new FlightOutcome<TKey, TValue>(FlightOutcomeKind.Failed, error: captured);
                        CloseLocked(execution);
                    }
                }
            }
            else if (IsCurrent(execution))
            {
                outcome = new FlightOutcome<TKey, TValue>(FlightOutcomeKind.Success, task.Result);
                CloseLocked(execution);
            }

            AssertInvariants();
            return outcome;
        }
    }

    /// <summary>Closes the flight because its execution passed the timeout; <see langword="false"/> when it was already decided.</summary>
    public bool TryTimeOut(FlightExecution<TKey, TValue> execution)
    {
        lock (SyncRoot)
        {
            if (!IsCurrent(execution))
            {
                return false;
            }

            CloseLocked(execution);
            AssertInvariants();
            return true;
        }
    }

    /// <summary>
    /// Closes the flight to new callers when no follower ever joined it, so its result is its leader's alone; the
    /// execution goes on and is decided as usual. <see langword="false"/> when a follower joined, or the execution no
    /// longer decides the flight.
    /// </summary>
    public bool TryCloseUnshared(FlightExecution<TKey, TValue> execution)
    {
        lock (SyncRoot)
        {
            if (_followers > 0 || _closed || !IsCurrent(execution))
            {
                return false;
            }

            _closed = true;
            AssertInvariants();
            return true;
        }
    }

    /// <summary>Closes the flight to new callers (it was forgotten); callers already in it keep their execution.</summary>
    public void Close()
    {
        lock (SyncRoot)
        {
            _closed = true;
        }
    }

    /// <summary>The followers that await the shared task, once the flight's final outcome is known.</summary>
    public SharedFlightResult<TKey, TValue>? Shared => _shared;

    /// <summary>The flight's lock: the flight itself, which never leaves this assembly (one object less per flight).</summary>
    private object SyncRoot => this;

    private bool IsCurrent(FlightExecution<TKey, TValue> execution) => !execution.Decided && ReferenceEquals(_current, execution);

    private FlightOutcome<TKey, TValue> DropLocked(FlightExecution<TKey, TValue> execution, ExceptionDispatchInfo? error, int othersWaiting)
    {
        execution.Decided = true;
        if (_promotions < Group.MaxPromotions && _waiting is { } waiting)
        {
            while (waiting.TryDequeue(out var candidate))
            {
                FlightExecution<TKey, TValue> next;
                if (candidate.Waiter is { } waiter)
                {
                    if (waiter.Status != FlightCallerStatus.Waiting || !waiter.AllowRetry || waiter.CancellationToken.IsCancellationRequested)
                    {
                        continue;
                    }

                    waiter.Status = FlightCallerStatus.Promoted;
                    next = new FlightExecution<TKey, TValue>(this, waiter, SingleFlightMetrics.Promoted);
                }
                else
                {
                    next = new FlightExecution<TKey, TValue>(this, null, SingleFlightMetrics.Promoted) { OnBehalfOf = candidate };
                    _shared!.PromotedFollowers++;
                    _sharedCandidates--;
                }

                next.Completion = FlightExecution<TKey, TValue>.NewCompletion();
                _promotions++;
                _current = next;
                SingleFlightLog.LeaderPromoted(Group.Logger, Group.Name, _promotions);
                return new FlightOutcome<TKey, TValue>(FlightOutcomeKind.Dropped, error: error, next: next);
            }
        }

        if (othersWaiting > 0)
        {
            SingleFlightLog.LeaderDropped(Group.Logger, Group.Name, _promotions);
        }

        _closed = true;
        return new FlightOutcome<TKey, TValue>(FlightOutcomeKind.Dropped, error: error);
    }

    private void CloseLocked(FlightExecution<TKey, TValue> execution)
    {
        execution.Decided = true;
        _closed = true;
    }

    private void Enqueue(FlightCandidate<TKey, TValue> candidate) =>
        (_waiting ??= new Queue<FlightCandidate<TKey, TValue>>(Group.MaxPromotions)).Enqueue(candidate);

    [Conditional("DEBUG")]
    private void AssertInvariants()
    {
        Debug.Assert(_live >= 0, "The live callers never drop below zero.");
        Debug.Assert(_followers >= 0, "The follower count never drops below zero.");
        Debug.Assert(_promotions <= Group.MaxPromotions, "A flight never promotes more than MaxPromotions times.");
        Debug.Assert(_sharedCandidates >= 0 && _sharedCandidates <= (_waiting?.Count ?? 0), "Shared candidates are a part of the queued candidates.");
        Debug.Assert(_closed || !_current.Decided, "An open flight's current execution is undecided.");
    }

    private static ExceptionDispatchInfo CaptureError(Task task)
    {
        if (task.IsCanceled)
        {
            try
            {
                task.GetAwaiter().GetResult();
            }
            catch (OperationCanceledException canceled)
            {
                return ExceptionDispatchInfo.Capture(canceled);
            }
        }

        return ExceptionDispatchInfo.Capture(task.Exception!.InnerExceptions.Count == 1 ? task.Exception.InnerException! : task.Exception);
    }
}
