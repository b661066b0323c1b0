using System.Collections.Concurrent;
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
    private static readonly FlightWork<TKey, TValue> InvokeStateAsWork =
        static (state, _, cancellationToken) => ((Func<CancellationToken, Task<TValue>>)state!)(cancellationToken);

    private static readonly FlightWork<TKey, TValue> InvokeSingleFlightWork =
        static (state, execution, cancellationToken) => ((ISingleFlightWork<TKey, TValue>)state!).RunAsync(execution, cancellationToken);

    /// <summary>
    /// As many locks as a concurrent dictionary takes (its own maximum): every call adds and removes a flight, and with
    /// its default (one lock per core) the cores' calls on different keys contend on the same locks and per-lock
    /// counts, which made a call two to three times as costly on two cores. Spread over this many, two calls rarely meet.
    /// </summary>
    private const int TableLocks = 1024;

    private readonly ConcurrentDictionary<TKey, Flight<TKey, TValue>> _flights;
    private readonly int? _maxKeys;

    /// <summary>The keys in flight, counted only to enforce <c>MaxKeys</c>: a counter every call writes is one more
    /// memory location the cores contend on.</summary>
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

        _flights = new ConcurrentDictionary<TKey, Flight<TKey, TValue>>(TableLocks, 31, comparer ?? EqualityComparer<TKey>.Default);
        Name = name;
        ActivityDisplayName = $"coordination.single_flight {name}";
        MaxPromotions = options.MaxPromotions;
        Timeout = options.Timeout;
        _maxKeys = options.MaxKeys;
        LastCallerCancels = options.WorkCancellation == SingleFlightWorkCancellation.LastCallerCancels;
        TimeProvider = timeProvider ?? TimeProvider.System;
        Metrics = metrics;
        Logger = logger ?? NullLogger.Instance;
    }

    /// <summary>Gets the number of keys in flight.</summary>
    /// <value>A snapshot. Without <see cref="SingleFlightGroupOptions.MaxKeys"/> it is counted when asked, which briefly
    /// holds up calls that start or end flights: read it for diagnostics, not on every call.</value>
    public int Count => _maxKeys is null ? _flights.Count : Volatile.Read(ref _count);

    internal string Name { get; }

    internal string ActivityDisplayName { get; }

    internal int MaxPromotions { get; }

    internal TimeSpan? Timeout { get; }

    internal bool LastCallerCancels { get; }

    internal TimeProvider TimeProvider { get; }

    internal SingleFlightMetrics? Metrics { get; }

    internal ILogger Logger { get; }

    /// <summary>Gets how many callers wait on flights in progress (a snapshot, for diagnostics and tests).</summary>
    internal int WaitingCallers
    {
        get
        {
            var waiting = 0;
            foreach (var entry in _flights)
            {
                waiting += entry.Value.Live;
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
        return RunCoreAsync(key, work, InvokeStateAsWork, allowRetry: true, leaderReportsLeaving: false, cancellationToken);
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
        return RunCoreAsync(key, new StatefulWork<TState>(state, work), StatefulWork<TState>.Invoke, allowRetry: true, leaderReportsLeaving: false, cancellationToken);
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
        return RunCoreAsync(key, work, InvokeStateAsWork, allowRetry: false, leaderReportsLeaving: false, cancellationToken);
    }

    /// <summary>Runs <paramref name="work"/> for <paramref name="key"/>, or joins the execution already in flight for it.</summary>
    /// <remarks>For work that needs the execution it runs as; the work is its own state, and reports its leader's
    /// departure itself (see <see cref="ISingleFlightWork{TKey, TValue}"/>).</remarks>
    internal Task<TValue> RunAsync(TKey key, ISingleFlightWork<TKey, TValue> work, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(work);
        return RunCoreAsync(key, work, InvokeSingleFlightWork, allowRetry: true, leaderReportsLeaving: true, cancellationToken);
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
            if (entry.Value.IsClosed && TryRemove(entry.Value))
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

        flight.Removed = true;
        flight.Close();
        OnRemoved(flight);
        return true;
    }

    /// <summary>Takes a flight out of the table if it is still there (compare-and-remove: never a successor).</summary>
    internal bool TryRemove(Flight<TKey, TValue> flight)
    {
        // A flight leaves the table once; the flag spares a second lookup (a lone leader's flight is taken out when
        // its response starts, and its execution's completion would try again).
        if (!flight.Removed && _flights.TryRemove(KeyValuePair.Create(flight.Key, flight)))
        {
            flight.Removed = true;
            OnRemoved(flight);
            return true;
        }

        return false;
    }

    private Task<TValue> RunCoreAsync(
        TKey key,
        object? state,
        FlightWork<TKey, TValue> work,
        bool allowRetry,
        bool leaderReportsLeaving,
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
                    ? new FlightCaller<TKey, TValue>(flight, state, work, allowRetry, SingleFlightMetrics.Follower, cancellationToken)
                    : null;
                if (flight.TryJoin(follower, state, work, out var shared) is { } joined)
                {
                    joined.LinkCurrentActivity();
                    return shared ?? follower!.WaitAsync(joined);
                }

                // A closed flight is on its way out of the table; take it out now and start afresh.
                TryRemove(flight);
                continue;
            }

            if (_maxKeys is { } maxKeys && Volatile.Read(ref _count) >= maxKeys)
            {
                SingleFlightLog.MaxKeysReached(Logger, Name, maxKeys);
                return RunUncoalescedAsync(state, work, cancellationToken);
            }

            // A leader that cannot cancel (or reports its departure itself) and has no timeout to enforce simply gets
            // its own work's task.
            var created = new Flight<TKey, TValue>(this, key, Metrics?.ActiveEnabled ?? false);
            var leader = (cancellationToken.CanBeCanceled && !leaderReportsLeaving) || Timeout is not null
                ? new FlightCaller<TKey, TValue>(created, state, work, allowRetry, SingleFlightMetrics.Leader, cancellationToken) { Status = FlightCallerStatus.Running }
                : null;
            var first = new FlightExecution<TKey, TValue>(created, leader, SingleFlightMetrics.Leader);
            if (leader is not null)
            {
                first.Completion = FlightExecution<TKey, TValue>.NewCompletion();
            }

            created.Begin(first);
            if (_flights.TryAdd(key, created))
            {
                if (_maxKeys is not null)
                {
                    Interlocked.Increment(ref _count);
                }

                Metrics?.FlightStarted(Name, created.CountedActive);
                var ownResult = first.Start(state, work, returnResult: leader is null, cancellationToken);
                return leader is null ? ownResult!
                    : ownResult is { IsCompletedSuccessfully: true } && leader.TryCompleteAlone(first) ? ownResult
                    : leader.WaitAsync(first);
            }
        }
    }

    private void OnRemoved(Flight<TKey, TValue> flight)
    {
        if (_maxKeys is not null)
        {
            Interlocked.Decrement(ref _count);
        }

        Metrics?.FlightEnded(Name, flight.Followers, flight.CountedActive);
    }

    private async Task<TValue> RunUncoalescedAsync(object? state, FlightWork<TKey, TValue> work, CancellationToken cancellationToken)
    {
        try
        {
            var value = await work(state, null, cancellationToken).ConfigureAwait(false);
            Metrics?.Request(Name, SingleFlightMetrics.Overflow, SingleFlightMetrics.Success);
            return value;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            Metrics?.Request(Name, SingleFlightMetrics.Overflow, SingleFlightMetrics.Canceled);
            throw;
        }
        catch (Exception exception)
        {
            Metrics?.Request(Name, SingleFlightMetrics.Overflow, SingleFlightMetrics.Failure, exception);
            throw;
        }
    }

    private sealed class StatefulWork<TState>(TState state, Func<TState, CancellationToken, Task<TValue>> work)
    {
        public static readonly FlightWork<TKey, TValue> Invoke =
            static (self, _, cancellationToken) => ((StatefulWork<TState>)self!).Run(cancellationToken);

        private Task<TValue> Run(CancellationToken cancellationToken) => work(state, cancellationToken);
    }
}
