using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using Coordination.Diagnostics;
using Coordination.Threading;

namespace Coordination.SingleFlight;

/// <summary>
/// One run of one caller's work for a flight (a flight has several only when leaders drop): the work's token, its
/// timeout timer and its activity, and the publication of its outcome.
/// </summary>
[SuppressMessage("Design", "CA1001", Justification = "A linked work source is disposed when the work completes; a plain one holds no registration or timer.")]
internal sealed class FlightExecution<TKey, TValue>(Flight<TKey, TValue> flight, FlightCaller<TKey, TValue>? leader, string leaderRole)
    where TKey : notnull
{
    private const string ActivityOperationName = "coordination.single_flight";

    private CancellationTokenSource? _workCancellation;
    private CancellationToken _workToken;
    private int _workCanceled;
    private object? _onBehalfOf;
    private ITimer? _timer;
    private Activity? _activity;

    public Flight<TKey, TValue> Flight { get; } = flight;

    /// <summary>The leader when it waits through this execution; <see langword="null"/> when it gets the work's own task
    /// or when the work runs on behalf of a follower that awaits the shared task.</summary>
    public FlightCaller<TKey, TValue>? Leader { get; } = leader;

    public string LeaderRole { get; } = leaderRole;

    /// <summary>Whether the leader is the caller that gets the work's own task (it neither cancels nor has a timeout to enforce).</summary>
    public bool LeaderHoldsWorkTask => Leader is null && LeaderRole == SingleFlightMetrics.Leader;

    /// <summary>Whether this execution's outcome is settled; guarded by the flight's lock.</summary>
    public bool Decided { get; set; }

    /// <summary>Where waiting callers learn the outcome (a few at a time, see <see cref="RelayCompletion{T}"/>, so a
    /// herd's wake-up does not hold up the requests that arrive meanwhile); created for the first waiter, guarded by the
    /// flight's lock.</summary>
    public RelayCompletion<FlightOutcome<TKey, TValue>>? Completion { get; set; }

    /// <summary>For a work run on behalf of a follower that awaits the shared task: that follower.</summary>
    /// <remarks>Boxed: only a promotion has one, and inline it would cost every execution four references more.</remarks>
    public FlightCandidate<TKey, TValue>? OnBehalfOf
    {
        get => (FlightCandidate<TKey, TValue>?)_onBehalfOf;
        init => _onBehalfOf = value;
    }

    /// <summary>
    /// The work's token. When the last caller's departure cancels the work, its source is created on first use: work
    /// that sees its execution (<see cref="ISingleFlightWork{TKey, TValue}"/>) asks for it only when it needs it, so a
    /// run that never looks (an HTTP endpoint that does not read <c>RequestAborted</c>) costs no source.
    /// </summary>
    public CancellationToken WorkToken
    {
        get
        {
            if (!Group.LastCallerCancels)
            {
                return _workToken;
            }

            if (Volatile.Read(ref _workCancellation) is { } existing)
            {
                return existing.Token;
            }

            var created = new CancellationTokenSource();
            if (Interlocked.CompareExchange(ref _workCancellation, created, null) is { } raced)
            {
                created.Dispose();
                return raced.Token;
            }

            // CancelWork may have run before the source existed: it left the mark, and the source starts cancelled.
            // (Both sides write before they read, with full fences: at least one of them sees the other.)
            if (Volatile.Read(ref _workCanceled) != 0)
            {
                created.Cancel();
            }

            return created.Token;
        }
    }

    private SingleFlightGroup<TKey, TValue> Group => Flight.Group;

    public static RelayCompletion<FlightOutcome<TKey, TValue>> NewCompletion() => new();

    /// <summary>
    /// Closes the flight to new callers when no follower has joined it, so the result goes to the leader alone (the
    /// HTTP leader then keeps no copy of its response). Call it from the work, while it runs.
    /// </summary>
    public bool TryCloseUnshared()
    {
        if (!Flight.TryCloseUnshared(this))
        {
            return false;
        }

        Group.TryRemove(Flight);
        return true;
    }

    /// <summary>Runs the work. Returns the work's own task when it completed at once (its outcome is published by then);
    /// else, with <paramref name="returnResult"/>, a task of the work's result that completes once the result is
    /// published to the followers, or <see langword="null"/>.</summary>
    public Task<TValue>? Start(object? state, FlightWork<TKey, TValue> work, bool returnResult, CancellationToken leaderToken)
    {
        var group = Group;
        if (!group.LastCallerCancels)
        {
            _workCancellation = group.Timeout is null ? null : CancellationTokenSource.CreateLinkedTokenSource(leaderToken);
            _workToken = _workCancellation?.Token ?? leaderToken;
        }

        // Under LastCallerCancels the source is created on first use (WorkToken); work that sees its execution asks for it.
        var workToken = group.LastCallerCancels && state is ISingleFlightWork<TKey, TValue> ? default : WorkToken;

        Activity? previousActivity = null;
        if (CoordinationDiagnostics.ActivitySource.HasListeners())
        {
            previousActivity = Activity.Current;
            _activity = CoordinationDiagnostics.ActivitySource.StartActivity(ActivityOperationName, ActivityKind.Internal);
            if (_activity is not null)
            {
                _activity.DisplayName = group.ActivityDisplayName;
                _activity.SetTag(CoordinationDiagnostics.NameTag, group.Name);
            }
        }

        if (group.Timeout is { } timeout)
        {
            _timer = group.TimeProvider.CreateTimer(static state => ((FlightExecution<TKey, TValue>)state!).OnTimeout(), this, timeout, System.Threading.Timeout.InfiniteTimeSpan);
        }

        Task<TValue> task;
        try
        {
            task = work(state, this, workToken)
                ?? Task.FromException<TValue>(new InvalidOperationException($"The work of single-flight '{group.Name}' returned a null task."));
        }
        catch (Exception exception)
        {
            // A synchronous throw is a faulted execution, never an exception that escapes past the followers.
            task = Task.FromException<TValue>(exception);
        }
        finally
        {
            if (_activity is not null)
            {
                Activity.Current = previousActivity;
            }
        }

        if (task.IsCompleted)
        {
            // Decided and published already: the work's own task is the result.
            OnWorkCompleted(task);
            return task;
        }

        if (returnResult)
        {
            return task.ContinueWith(
                static (completed, state) =>
                {
                    ((FlightExecution<TKey, TValue>)state!).OnWorkCompleted(completed);
                    return completed.GetAwaiter().GetResult();
                },
                this,
                CancellationToken.None,
                TaskContinuationOptions.ExecuteSynchronously,
                TaskScheduler.Default);
        }

        task.ContinueWith(
            static (completed, state) => ((FlightExecution<TKey, TValue>)state!).OnWorkCompleted(completed),
            this,
            CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);
        return null;
    }

    /// <summary>Links the current activity (a follower's) to this execution's.</summary>
    public void LinkCurrentActivity()
    {
        if (_activity is { } leaderActivity && Activity.Current is { } followerActivity)
        {
            followerActivity.AddLink(new ActivityLink(leaderActivity.Context));
        }
    }

    /// <summary>
    /// Publishes this execution's outcome: the flight leaves the table first (a caller that arrives after completion
    /// starts a new execution and never sees a finished one; compare-and-remove, never a successor), then the waiting
    /// callers learn it, and a promoted follower that awaits the shared task gets its work run.
    /// </summary>
    public void Publish(FlightOutcome<TKey, TValue> outcome)
    {
        if (!Flight.Removed && Flight.IsClosed)
        {
            Group.TryRemove(Flight);
        }

        _timer?.Dispose();
        Completion?.TrySetResult(outcome);
        if (outcome is { Kind: FlightOutcomeKind.Dropped, Next: { } next })
        {
            if (next.Leader is null)
            {
                // A follower that awaits the shared task was promoted: run its work for it, off this thread.
                ThreadPool.UnsafeQueueUserWorkItem(static execution => execution.StartOnBehalf(), next, preferLocal: false);
            }

            return;
        }

        Flight.Shared?.Publish(outcome);
    }

    /// <summary>
    /// For a leader that holds its work's task and reports its own departure (<see cref="ISingleFlightWork{TKey, TValue}"/>):
    /// its caller left before the result. It no longer counts; with the last caller gone the work is cancelled.
    /// </summary>
    public void LeaderLeft()
    {
        if (Flight.LeaderLeft(this, out var outcome) is { } ended)
        {
            ended.Publish(outcome);
            ended.CancelWork();
        }
    }

    /// <summary>Cancels the work's own token (the last caller left).</summary>
    public void CancelWork()
    {
        Interlocked.Exchange(ref _workCanceled, 1);
        try
        {
            Volatile.Read(ref _workCancellation)?.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // The work already completed and released its source.
        }
    }

    /// <summary>Runs the work of a promoted follower that awaits the shared task, in the context it joined from.</summary>
    private void StartOnBehalf()
    {
        if (OnBehalfOf!.Value.Context is { } context)
        {
            ExecutionContext.Run(context, static state => ((FlightExecution<TKey, TValue>)state!).StartOnBehalfCore(), this);
        }
        else
        {
            StartOnBehalfCore();
        }
    }

    private void StartOnBehalfCore() => _ = Start(OnBehalfOf!.Value.State, OnBehalfOf.Value.Work!, returnResult: false, CancellationToken.None);

    private void OnWorkCompleted(Task<TValue> task)
    {
        var group = Group;
        var outcome = Flight.Complete(this, task, out var error);
        if (LeaderHoldsWorkTask)
        {
            var result = error is null ? SingleFlightMetrics.Success
                : error is OperationCanceledException ? SingleFlightMetrics.Canceled
                : SingleFlightMetrics.Failure;
            group.Metrics?.Request(group.Name, SingleFlightMetrics.Leader, result, result == SingleFlightMetrics.Failure ? error : null);
        }

        if (outcome is { } decided)
        {
            Publish(decided);
        }

        _timer?.Dispose();
        if (!group.LastCallerCancels)
        {
            // Linked sources hold a registration on the leader's token until disposed.
            _workCancellation?.Dispose();
        }

        if (_activity is { } activity)
        {
            if (error is not null)
            {
                activity.SetStatus(ActivityStatusCode.Error);
                activity.SetTag(CoordinationDiagnostics.ErrorTypeTag, error.GetType().FullName);
            }

            activity.Stop();
        }
    }

    private void OnTimeout()
    {
        if (!Flight.TryTimeOut(this))
        {
            return;
        }

        SingleFlightLog.ExecutionTimedOut(Group.Logger, Group.Name, Group.Timeout!.Value);
        Publish(new FlightOutcome<TKey, TValue>(FlightOutcomeKind.TimedOut));
        CancelWork();
    }
}
