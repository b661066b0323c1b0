using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;
using Coordination.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Coordination.SingleFlight;

/// <summary>
/// Runs one execution of a unit of work per key at a time: identical concurrent calls share that execution and its result.
/// </summary>
/// <typeparam name="TKey">The key type; compared with the group's equality comparer.</typeparam>
/// <typeparam name="TValue">The result type; every caller of one execution gets the same value.</typeparam>
/// <remarks>
/// <para>The group holds only work in flight: once an execution completes, its key is free and the next call starts a
/// new execution. Results are never cached.</para>
/// <para>Errors: the leader (the caller whose work ran) gets its own exception unchanged; its followers get a
/// <see cref="SingleFlightLeaderFailedException"/> with that exception as <see cref="Exception.InnerException"/>.</para>
/// <para>Cancellation: a caller whose token is cancelled stops waiting at once with an
/// <see cref="OperationCanceledException"/> carrying its own token. When the leader drops (see
/// <see cref="SingleFlightGroupOptions.WorkCancellation"/>), the oldest waiting follower runs its own work with its own
/// token and the others join that run, at most <see cref="SingleFlightGroupOptions.MaxPromotions"/> times per flight.</para>
/// </remarks>
public sealed class SingleFlightGroup<TKey, TValue>
    where TKey : notnull
{
    private const string ActivityOperationName = "coordination.single_flight";

    private static readonly Func<object?, CancellationToken, Task<TValue>> InvokeStateAsWork =
        static (state, cancellationToken) => ((Func<CancellationToken, Task<TValue>>)state!)(cancellationToken);

    private readonly ConcurrentDictionary<TKey, Flight> _flights;
    private readonly string _name;
    private readonly string _activityDisplayName;
    private readonly int _maxPromotions;
    private readonly TimeSpan? _timeout;
    private readonly int? _maxKeys;
    private readonly bool _lastCallerCancels;
    private readonly TimeProvider _timeProvider;
    private readonly SingleFlightMetrics? _metrics;
    private readonly ILogger _logger;
    private int _count;

    /// <summary>Initializes a new group with the default options.</summary>
    public SingleFlightGroup()
        : this(new SingleFlightGroupOptions())
    {
    }

    /// <summary>Initializes a new group.</summary>
    /// <param name="options">The options; copied, so later changes have no effect.</param>
    /// <param name="comparer">Compares keys; <see cref="EqualityComparer{T}.Default"/> when <see langword="null"/>.</param>
    /// <param name="timeProvider">The clock of <see cref="SingleFlightGroupOptions.Timeout"/>; <see cref="TimeProvider.System"/> when <see langword="null"/>.</param>
    /// <exception cref="ArgumentException">An option is out of range.</exception>
    public SingleFlightGroup(SingleFlightGroupOptions options, IEqualityComparer<TKey>? comparer = null, TimeProvider? timeProvider = null)
        : this("default", options, comparer, timeProvider, metrics: null, logger: null)
    {
    }

    internal SingleFlightGroup(
        string name,
        SingleFlightGroupOptions options,
        IEqualityComparer<TKey>? comparer,
        TimeProvider? timeProvider,
        SingleFlightMetrics? metrics,
        ILogger? logger)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(options);
        OptionsValidation.ThrowIfInvalid(options.Validate(name), nameof(options));

        _flights = new ConcurrentDictionary<TKey, Flight>(comparer ?? EqualityComparer<TKey>.Default);
        _name = name;
        _activityDisplayName = $"{ActivityOperationName} {name}";
        _maxPromotions = options.MaxPromotions;
        _timeout = options.Timeout;
        _maxKeys = options.MaxKeys;
        _lastCallerCancels = options.WorkCancellation == SingleFlightWorkCancellation.LastCallerCancels;
        _timeProvider = timeProvider ?? TimeProvider.System;
        _metrics = metrics;
        _logger = logger ?? NullLogger.Instance;
    }

    /// <summary>Gets the number of keys in flight.</summary>
    public int Count => Volatile.Read(ref _count);

    /// <summary>Gets how many callers wait on flights in progress (a snapshot, for diagnostics and tests).</summary>
    internal int WaitingCallers
    {
        get
        {
            var waiting = 0;
            foreach (var entry in _flights)
            {
                lock (entry.Value)
                {
                    waiting += entry.Value.Live;
                }
            }

            return waiting;
        }
    }

    /// <summary>
    /// Runs <paramref name="work"/> for <paramref name="key"/>, or joins the execution already in flight for it.
    /// If the leader drops, a waiting caller is promoted and runs its own work.
    /// </summary>
    /// <param name="key">The key that identifies identical calls.</param>
    /// <param name="work">The work; invoked at most once per execution, never under a lock.</param>
    /// <param name="cancellationToken">Stops this caller's wait; as leader, also the work's token (see <see cref="SingleFlightGroupOptions.WorkCancellation"/>).</param>
    /// <returns>The value of the shared execution.</returns>
    /// <exception cref="SingleFlightLeaderFailedException">This caller followed an execution whose work failed.</exception>
    /// <exception cref="SingleFlightLeaderDroppedException">The leader dropped and the flight reached <see cref="SingleFlightGroupOptions.MaxPromotions"/>.</exception>
    /// <exception cref="TimeoutException">The execution passed <see cref="SingleFlightGroupOptions.Timeout"/>.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public Task<TValue> RunAsync(TKey key, Func<CancellationToken, Task<TValue>> work, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(work);
        return RunCoreAsync(key, work, InvokeStateAsWork, allowRetry: true, cancellationToken);
    }

    /// <summary>
    /// Runs <paramref name="work"/> with <paramref name="state"/> for <paramref name="key"/>, or joins the execution
    /// already in flight for it; the state overload lets a caller pass its data without a closure.
    /// </summary>
    /// <typeparam name="TState">The type of the state handed to the work.</typeparam>
    /// <param name="key">The key that identifies identical calls.</param>
    /// <param name="state">Handed to <paramref name="work"/> when this caller's work runs.</param>
    /// <param name="work">The work; invoked at most once per execution, never under a lock.</param>
    /// <param name="cancellationToken">Stops this caller's wait; as leader, also the work's token (see <see cref="SingleFlightGroupOptions.WorkCancellation"/>).</param>
    /// <returns>The value of the shared execution.</returns>
    public Task<TValue> RunAsync<TState>(TKey key, TState state, Func<TState, CancellationToken, Task<TValue>> work, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(work);
        return RunCoreAsync(key, new StatefulWork<TState>(state, work), StatefulWork<TState>.Invoke, allowRetry: true, cancellationToken);
    }

    /// <summary>
    /// Like <see cref="RunAsync(TKey, Func{CancellationToken, Task{TValue}}, CancellationToken)"/>, but if the leader this
    /// caller follows drops, this caller is not promoted: it fails with <see cref="SingleFlightLeaderDroppedException"/>.
    /// </summary>
    /// <param name="key">The key that identifies identical calls.</param>
    /// <param name="work">The work, run only if this caller leads.</param>
    /// <param name="cancellationToken">Stops this caller's wait; as leader, also the work's token.</param>
    /// <returns>The value of the shared execution.</returns>
    public Task<TValue> RunWithoutRetryAsync(TKey key, Func<CancellationToken, Task<TValue>> work, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(work);
        return RunCoreAsync(key, work, InvokeStateAsWork, allowRetry: false, cancellationToken);
    }

    /// <summary>Removes entries whose execution has completed but which are still in the table.</summary>
    /// <remarks>The group removes an entry in the same step that publishes its result, so this usually finds
    /// nothing; it exists for parity with the seed's <c>purge_stale</c> and as a safety valve. Safe at any time.</remarks>
    /// <returns>How many entries were removed.</returns>
    public int PurgeStale()
    {
        var purged = 0;
        foreach (var entry in _flights)
        {
            bool closed;
            lock (entry.Value)
            {
                closed = entry.Value.Closed;
            }

            if (closed && TryRemove(entry.Value))
            {
                purged++;
            }
        }

        return purged;
    }

    /// <summary>Forgets the execution in flight for <paramref name="key"/>: the next call starts a new execution,
    /// while callers already waiting keep theirs.</summary>
    /// <param name="key">The key.</param>
    /// <returns><see langword="true"/> if an execution was in flight for the key.</returns>
    public bool Forget(TKey key)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (!_flights.TryRemove(key, out var flight))
        {
            return false;
        }

        lock (flight)
        {
            flight.Closed = true;
        }

        OnRemoved(flight);
        return true;
    }

    private Task<TValue> RunCoreAsync(
        TKey key,
        object? state,
        Func<object?, CancellationToken, Task<TValue>> work,
        bool allowRetry,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (cancellationToken.IsCancellationRequested)
        {
            return Task.FromCanceled<TValue>(cancellationToken);
        }

        while (true)
        {
            if (_flights.TryGetValue(key, out var flight))
            {
                // A follower that can neither cancel nor refuse promotion needs nothing of its own: it awaits the
                // flight's shared task. Others get a waiter that can leave or be told its leader dropped.
                var follower = cancellationToken.CanBeCanceled || !allowRetry
                    ? new Caller(flight, state, work, allowRetry, SingleFlightMetrics.Follower, cancellationToken)
                    : null;
                Execution? joined = null;
                Task<TValue>? shared = null;
                lock (flight)
                {
                    if (!flight.Closed)
                    {
                        joined = flight.Current;
                        flight.Live++;
                        flight.Followers++;
                        // Candidates on the shared task are always eligible, so once enough of them are queued for every
                        // promotion left, nobody behind them can be reached: they need not be queued at all.
                        var reachable = flight.SharedCandidates < _maxPromotions - flight.Promotions;
                        if (follower is null)
                        {
                            flight.Shared ??= new TaskCompletionSource<TValue>();
                            shared = flight.Shared.Task;
                            flight.SharedFollowers++;
                            if (reachable)
                            {
                                (flight.Waiting ??= new Queue<Candidate>(_maxPromotions)).Enqueue(new Candidate(null, state, work, ExecutionContext.Capture()));
                                flight.SharedCandidates++;
                            }
                        }
                        else
                        {
                            joined.Completion ??= NewCompletion();
                            if (reachable)
                            {
                                (flight.Waiting ??= new Queue<Candidate>(_maxPromotions)).Enqueue(new Candidate(follower, null, null, null));
                            }
                        }
                    }
                }

                if (joined is not null)
                {
                    LinkToExecution(joined);
                    return shared ?? WaitAsync(joined, follower!);
                }

                // A closed flight is on its way out of the table; take it out now and start afresh.
                TryRemove(flight);
                continue;
            }

            if (_maxKeys is { } maxKeys && Volatile.Read(ref _count) >= maxKeys)
            {
                SingleFlightLog.MaxKeysReached(_logger, _name, maxKeys);
                return RunUncoalescedAsync(state, work, cancellationToken);
            }

            // A leader that cannot cancel and has no timeout to enforce simply gets its own work's task.
            var created = new Flight(this, key) { Live = 1, CountedActive = _metrics?.ActiveEnabled ?? false };
            var leader = cancellationToken.CanBeCanceled || _timeout is not null
                ? new Caller(created, state, work, allowRetry, SingleFlightMetrics.Leader, cancellationToken) { Status = CallerStatus.Running }
                : null;
            var first = new Execution(created, leader, SingleFlightMetrics.Leader);
            if (leader is not null)
            {
                first.Completion = NewCompletion();
            }

            created.Current = first;
            if (_flights.TryAdd(key, created))
            {
                Interlocked.Increment(ref _count);
                _metrics?.FlightStarted(_name, created.CountedActive);
                var ownResult = Start(first, state, work, returnResult: leader is null, cancellationToken);
                return leader is null ? ownResult! : WaitAsync(first, leader);
            }
        }
    }

    private async Task<TValue> WaitAsync(Execution execution, Caller me)
    {
        while (true)
        {
            Outcome outcome;
            try
            {
                outcome = await execution.Completion!.Task.WaitAsync(me.CancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (me.CancellationToken.IsCancellationRequested)
            {
                Leave(me);
                Record(me, SingleFlightMetrics.Canceled);
                throw;
            }

            var isLeader = ReferenceEquals(execution.Leader, me);
            switch (outcome.Kind)
            {
                case OutcomeKind.Success:
                    Record(me, SingleFlightMetrics.Success);
                    return outcome.Value!;

                case OutcomeKind.Failed:
                    Record(me, SingleFlightMetrics.Failure, outcome.Error!.SourceException);
                    if (isLeader)
                    {
                        outcome.Error.Throw();
                    }

                    throw LeaderFailed(outcome.Error.SourceException);

                case OutcomeKind.TimedOut:
                    Record(me, SingleFlightMetrics.Timeout);
                    throw TimedOut();

                default:
                    if (isLeader)
                    {
                        Leave(me);
                        Record(me, SingleFlightMetrics.Canceled);
                        outcome.Error?.Throw();
                        throw new OperationCanceledException(me.CancellationToken);
                    }

                    var next = outcome.Next;
                    if (next is null || !me.AllowRetry)
                    {
                        Leave(me);
                        Record(me, SingleFlightMetrics.Dropped);
                        throw LeaderDropped();
                    }

                    if (ReferenceEquals(next.Leader, me))
                    {
                        me.Role = SingleFlightMetrics.Promoted;
                        if (me.CancellationToken.IsCancellationRequested)
                        {
                            Leave(me);
                            Record(me, SingleFlightMetrics.Canceled);
                            throw new OperationCanceledException(me.CancellationToken);
                        }

                        lock (me.Flight)
                        {
                            me.Status = CallerStatus.Running;
                        }

                        _ = Start(next, me.State, me.Work, returnResult: false, me.CancellationToken);
                    }

                    execution = next;
                    break;
            }
        }
    }

    /// <summary>Runs the leader's work. With <paramref name="returnResult"/>, returns a task of the work's own result that
    /// completes once the result is published to the followers; otherwise returns <see langword="null"/>.</summary>
    private Task<TValue>? Start(Execution execution, object? state, Func<object?, CancellationToken, Task<TValue>> work, bool returnResult, CancellationToken leaderToken)
    {
        var workToken = leaderToken;
        if (_lastCallerCancels)
        {
            execution.WorkCancellation = new CancellationTokenSource();
            workToken = execution.WorkCancellation.Token;
        }
        else if (_timeout is not null)
        {
            execution.WorkCancellation = CancellationTokenSource.CreateLinkedTokenSource(leaderToken);
            workToken = execution.WorkCancellation.Token;
        }

        var previousActivity = Activity.Current;
        var activity = CoordinationDiagnostics.ActivitySource.StartActivity(ActivityOperationName, ActivityKind.Internal);
        if (activity is not null)
        {
            activity.DisplayName = _activityDisplayName;
            activity.SetTag(CoordinationDiagnostics.NameTag, _name);
            execution.Activity = activity;
        }

        if (_timeout is { } timeout)
        {
            execution.Timer = _timeProvider.CreateTimer(
                static state => ((Execution)state!).Flight.Group.OnTimeout((Execution)state!),
                execution,
                timeout,
                Timeout.InfiniteTimeSpan);
        }

        Task<TValue> task;
        try
        {
            task = work(state, workToken)
                ?? Task.FromException<TValue>(new InvalidOperationException($"The work of single-flight '{_name}' returned a null task."));
        }
        catch (Exception exception)
        {
            // A synchronous throw is a faulted execution, never an exception that escapes past the followers.
            task = Task.FromException<TValue>(exception);
        }
        finally
        {
            if (activity is not null)
            {
                Activity.Current = previousActivity;
            }
        }

        if (task.IsCompleted)
        {
            OnWorkCompleted(execution, task);
            return returnResult ? task : null;
        }

        if (returnResult)
        {
            return task.ContinueWith(
                static (completed, state) =>
                {
                    ((Execution)state!).Flight.Group.OnWorkCompleted((Execution)state!, completed);
                    return completed.GetAwaiter().GetResult();
                },
                execution,
                CancellationToken.None,
                TaskContinuationOptions.ExecuteSynchronously,
                TaskScheduler.Default);
        }

        task.ContinueWith(
            static (completed, state) => ((Execution)state!).Flight.Group.OnWorkCompleted((Execution)state!, completed),
            execution,
            CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);
        return null;
    }

    /// <summary>Runs the work of a promoted follower that awaits the shared task, in the context it joined from.</summary>
    private static void StartOnBehalf(Execution execution)
    {
        if (execution.OnBehalfOf!.Value.Context is { } context)
        {
            ExecutionContext.Run(context, static state => StartOnBehalfCore((Execution)state!), execution);
        }
        else
        {
            StartOnBehalfCore(execution);
        }

        static void StartOnBehalfCore(Execution execution) =>
            _ = execution.Flight.Group.Start(execution, execution.OnBehalfOf!.Value.State, execution.OnBehalfOf.Value.Work!, returnResult: false, CancellationToken.None);
    }

    private void OnWorkCompleted(Execution execution, Task<TValue> task)
    {
        var flight = execution.Flight;
        var leaderResult = SingleFlightMetrics.Success;
        Exception? leaderError = null;
        Outcome? outcome = null;
        lock (flight)
        {
            if (!task.IsCompletedSuccessfully)
            {
                var error = CaptureError(task);
                leaderError = error.SourceException;
                leaderResult = leaderError is OperationCanceledException ? SingleFlightMetrics.Canceled : SingleFlightMetrics.Failure;

                // A late-finishing execution (timed out, abandoned or superseded) changes nothing.
                if (!execution.Decided && ReferenceEquals(flight.Current, execution))
                {
                    if (leaderError is OperationCanceledException)
                    {
                        if (execution.Leader is null && execution.LeaderRole == SingleFlightMetrics.Leader)
                        {
                            // A leader that gets its work's own task is gone with it.
                            flight.Live--;
                        }

                        outcome = DropLocked(execution, error, othersWaiting: flight.Live - (execution.Leader is null ? 0 : 1));
                    }
                    else
                    {
                        outcome = new Outcome(OutcomeKind.Failed, error: error);
                        CloseLocked(execution);
                    }
                }
            }
            else if (!execution.Decided && ReferenceEquals(flight.Current, execution))
            {
                outcome = new Outcome(OutcomeKind.Success, task.Result);
                CloseLocked(execution);
            }
        }

        if (execution.Leader is null && execution.LeaderRole == SingleFlightMetrics.Leader)
        {
            _metrics?.Request(_name, SingleFlightMetrics.Leader, leaderResult, leaderResult == SingleFlightMetrics.Failure ? leaderError : null);
        }

        if (outcome is { } decided)
        {
            Publish(execution, decided);
        }

        execution.Timer?.Dispose();
        if (!_lastCallerCancels)
        {
            // Linked sources hold a registration on the leader's token until disposed.
            execution.WorkCancellation?.Dispose();
        }

        if (execution.Activity is { } activity)
        {
            if (!task.IsCompletedSuccessfully)
            {
                activity.SetStatus(ActivityStatusCode.Error);
                activity.SetTag(CoordinationDiagnostics.ErrorTypeTag, leaderError?.GetType().FullName);
            }

            activity.Stop();
        }
    }

    private void OnTimeout(Execution execution)
    {
        var flight = execution.Flight;
        lock (flight)
        {
            if (execution.Decided || !ReferenceEquals(flight.Current, execution))
            {
                return;
            }

            CloseLocked(execution);
        }

        SingleFlightLog.ExecutionTimedOut(_logger, _name, _timeout!.Value);
        Publish(execution, new Outcome(OutcomeKind.TimedOut));
        TryCancel(execution.WorkCancellation);
    }

    /// <summary>Takes a waiting caller out of its flight: it was cancelled, or it stops waiting after a drop.</summary>
    private void Leave(Caller me)
    {
        var flight = me.Flight;
        Execution? dropped = null;
        Outcome outcome = default;
        lock (flight)
        {
            var current = flight.Current;
            var status = me.Status;
            me.Status = CallerStatus.Left;
            flight.Live--;
            var leadsCurrent = ReferenceEquals(current.Leader, me) && !current.Decided;
            if (leadsCurrent && (!_lastCallerCancels || status == CallerStatus.Promoted))
            {
                // The leader dropped, or a promoted caller left before its work started: elect the next one.
                dropped = current;
                outcome = DropLocked(current, error: null, othersWaiting: flight.Live);
            }
            else if (_lastCallerCancels && flight.Live == 0 && !current.Decided)
            {
                // Nobody is left to receive the result: stop the work and free the key.
                dropped = current;
                outcome = new Outcome(OutcomeKind.Dropped);
                CloseLocked(current);
            }
        }

        if (dropped is not null)
        {
            Publish(dropped, outcome);
            if (_lastCallerCancels)
            {
                TryCancel(dropped.WorkCancellation);
            }
        }
    }

    private Outcome DropLocked(Execution execution, ExceptionDispatchInfo? error, int othersWaiting)
    {
        var flight = execution.Flight;
        execution.Decided = true;
        if (flight.Promotions < _maxPromotions && flight.Waiting is { } waiting)
        {
            while (waiting.TryDequeue(out var candidate))
            {
                Execution next;
                if (candidate.Waiter is { } waiter)
                {
                    if (waiter.Status != CallerStatus.Waiting || !waiter.AllowRetry || waiter.CancellationToken.IsCancellationRequested)
                    {
                        continue;
                    }

                    waiter.Status = CallerStatus.Promoted;
                    next = new Execution(flight, waiter, SingleFlightMetrics.Promoted);
                }
                else
                {
                    next = new Execution(flight, null, SingleFlightMetrics.Promoted) { OnBehalfOf = new StrongBox<Candidate>(candidate) };
                    flight.PromotedSharedFollowers++;
                    flight.SharedCandidates--;
                }

                next.Completion = NewCompletion();
                flight.Promotions++;
                flight.Current = next;
                SingleFlightLog.LeaderPromoted(_logger, _name, flight.Promotions);
                return new Outcome(OutcomeKind.Dropped, error: error, next: next);
            }
        }

        if (othersWaiting > 0)
        {
            SingleFlightLog.LeaderDropped(_logger, _name, flight.Promotions);
        }

        flight.Closed = true;
        return new Outcome(OutcomeKind.Dropped, error: error);
    }

    private static void CloseLocked(Execution execution)
    {
        execution.Decided = true;
        execution.Flight.Closed = true;
    }

    private void Publish(Execution execution, Outcome outcome)
    {
        // The entry leaves the table before the result is visible: a caller that arrives after completion
        // starts a new execution and never sees a finished one. Compare-and-remove: never a successor.
        var flight = execution.Flight;
        if (flight.Closed)
        {
            TryRemove(flight);
        }

        execution.Timer?.Dispose();
        execution.Completion?.TrySetResult(outcome);
        if (outcome is { Kind: OutcomeKind.Dropped, Next: { } next })
        {
            if (next.Leader is null)
            {
                // A follower that awaits the shared task was promoted: run its work for it, off this thread.
                ThreadPool.UnsafeQueueUserWorkItem(StartOnBehalf, next, preferLocal: false);
            }

            return;
        }

        CompleteShared(flight, outcome);
    }

    /// <summary>Hands the flight's final outcome to the followers that await the shared task.</summary>
    /// <remarks>They resume together on one thread-pool thread (the shared task runs its continuations inline, as a
    /// plain task does), so neither the work's thread nor the leader waits behind them.</remarks>
    private static void CompleteShared(Flight flight, Outcome outcome)
    {
        if (flight.Shared is null)
        {
            return;
        }

        flight.Final = outcome;
        ThreadPool.UnsafeQueueUserWorkItem(flight, preferLocal: false);
    }

    private void CompleteSharedNow(Flight flight)
    {
        var shared = flight.Shared!;
        var outcome = flight.Final;

        var (result, error) = outcome.Kind switch
        {
            OutcomeKind.Success => (SingleFlightMetrics.Success, null),
            OutcomeKind.Failed => (SingleFlightMetrics.Failure, outcome.Error!.SourceException),
            OutcomeKind.TimedOut => (SingleFlightMetrics.Timeout, (Exception?)null),
            _ => (SingleFlightMetrics.Dropped, null),
        };
        _metrics?.Request(_name, SingleFlightMetrics.Follower, result, error, flight.SharedFollowers - flight.PromotedSharedFollowers);
        _metrics?.Request(_name, SingleFlightMetrics.Promoted, result, error, flight.PromotedSharedFollowers);

        switch (outcome.Kind)
        {
            case OutcomeKind.Success:
                shared.TrySetResult(outcome.Value!);
                break;
            case OutcomeKind.Failed:
                shared.TrySetException(LeaderFailed(outcome.Error!.SourceException));
                break;
            case OutcomeKind.TimedOut:
                shared.TrySetException(TimedOut());
                break;
            default:
                shared.TrySetException(LeaderDropped());
                break;
        }
    }

    private bool TryRemove(Flight flight)
    {
        if (_flights.TryRemove(KeyValuePair.Create(flight.Key, flight)))
        {
            OnRemoved(flight);
            return true;
        }

        return false;
    }

    private void OnRemoved(Flight flight)
    {
        Interlocked.Decrement(ref _count);
        _metrics?.FlightEnded(_name, Volatile.Read(ref flight.Followers), flight.CountedActive);
    }

    private async Task<TValue> RunUncoalescedAsync(object? state, Func<object?, CancellationToken, Task<TValue>> work, CancellationToken cancellationToken)
    {
        try
        {
            var value = await work(state, cancellationToken).ConfigureAwait(false);
            _metrics?.Request(_name, SingleFlightMetrics.Overflow, SingleFlightMetrics.Success);
            return value;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            _metrics?.Request(_name, SingleFlightMetrics.Overflow, SingleFlightMetrics.Canceled);
            throw;
        }
        catch (Exception exception)
        {
            _metrics?.Request(_name, SingleFlightMetrics.Overflow, SingleFlightMetrics.Failure, exception);
            throw;
        }
    }

    private SingleFlightLeaderFailedException LeaderFailed(Exception leaderError) =>
        new($"The shared execution of single-flight '{_name}' failed: {leaderError.Message}", leaderError);

    private TimeoutException TimedOut() => new($"The shared execution of single-flight '{_name}' passed its timeout of {_timeout}.");

    private SingleFlightLeaderDroppedException LeaderDropped() =>
        new($"The leader of single-flight '{_name}' was cancelled and no new leader was elected for this caller.");

    private void Record(Caller caller, string result, Exception? error = null) => _metrics?.Request(_name, caller.Role, result, error);

    private static TaskCompletionSource<Outcome> NewCompletion() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    private static void LinkToExecution(Execution execution)
    {
        if (execution.Activity is { } leaderActivity && Activity.Current is { } followerActivity)
        {
            followerActivity.AddLink(new ActivityLink(leaderActivity.Context));
        }
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

    private static void TryCancel(CancellationTokenSource? source)
    {
        try
        {
            source?.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // The work already completed and released its source.
        }
    }

    private enum CallerStatus
    {
        Waiting,
        Promoted,
        Running,
        Left,
    }

    private enum OutcomeKind
    {
        Success,
        Failed,
        TimedOut,
        Dropped,
    }

    private readonly struct Outcome(OutcomeKind kind, TValue? value = default, ExceptionDispatchInfo? error = null, Execution? next = null)
    {
        public OutcomeKind Kind { get; } = kind;

        public TValue? Value { get; } = value;

        public ExceptionDispatchInfo? Error { get; } = error;

        /// <summary>For a dropped execution: the execution of the promoted follower, if any.</summary>
        public Execution? Next { get; } = next;
    }

    /// <summary>A follower in arrival order, eligible for promotion: a waiter, or the work of a follower that awaits the shared task.</summary>
    private readonly struct Candidate(Caller? waiter, object? state, Func<object?, CancellationToken, Task<TValue>>? work, ExecutionContext? context)
    {
        public Caller? Waiter { get; } = waiter;

        public object? State { get; } = state;

        public Func<object?, CancellationToken, Task<TValue>>? Work { get; } = work;

        public ExecutionContext? Context { get; } = context;
    }

    /// <summary>One key's entry in the table; lives from the first call until its result is published.</summary>
    private sealed class Flight(SingleFlightGroup<TKey, TValue> group, TKey key) : IThreadPoolWorkItem
    {
        public readonly SingleFlightGroup<TKey, TValue> Group = group;
        public readonly TKey Key = key;

        // Guarded by lock (this).
        public Execution Current = null!;
        public bool Closed;
        public int Live;
        public int Followers;
        public int Promotions;
        public Queue<Candidate>? Waiting;

        /// <summary>The final result for the followers that cannot cancel; created by the first of them.</summary>
        public TaskCompletionSource<TValue>? Shared;
        public int SharedFollowers;
        public int PromotedSharedFollowers;
        public int SharedCandidates;

        /// <summary>Whether the flight was counted in <c>coordination.single_flight.active</c>; decided once, when it is created.</summary>
        public bool CountedActive;

        public Outcome Final;

        void IThreadPoolWorkItem.Execute() => Group.CompleteSharedNow(this);
    }

    /// <summary>One run of one caller's work; a flight has several only when leaders drop.</summary>
    private sealed class Execution(Flight flight, Caller? leader, string leaderRole)
    {
        public readonly Flight Flight = flight;

        /// <summary>The leader when it waits through this execution; <see langword="null"/> when it gets the work's own task
        /// or when the work runs on behalf of a follower that awaits the shared task.</summary>
        public readonly Caller? Leader = leader;
        public readonly string LeaderRole = leaderRole;

        // Guarded by lock (Flight).
        public bool Decided;
        public TaskCompletionSource<Outcome>? Completion;

        public CancellationTokenSource? WorkCancellation;
        public ITimer? Timer;
        public Activity? Activity;

        /// <summary>For a work run on behalf of a follower that awaits the shared task: that follower.</summary>
        public StrongBox<Candidate>? OnBehalfOf;
    }

    private sealed class Caller(
        Flight flight,
        object? state,
        Func<object?, CancellationToken, Task<TValue>> work,
        bool allowRetry,
        string role,
        CancellationToken cancellationToken)
    {
        public readonly Flight Flight = flight;
        public readonly object? State = state;
        public readonly Func<object?, CancellationToken, Task<TValue>> Work = work;
        public readonly bool AllowRetry = allowRetry;
        public readonly CancellationToken CancellationToken = cancellationToken;
        public CallerStatus Status;
        public string Role = role;
    }

    private sealed class StatefulWork<TState>(TState state, Func<TState, CancellationToken, Task<TValue>> work)
    {
        public static readonly Func<object?, CancellationToken, Task<TValue>> Invoke =
            static (self, cancellationToken) => ((StatefulWork<TState>)self!).Run(cancellationToken);

        private Task<TValue> Run(CancellationToken cancellationToken) => work(state, cancellationToken);
    }
}
