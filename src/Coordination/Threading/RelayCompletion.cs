using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;

namespace Coordination.Threading;

/// <summary>
/// A result set once and awaited by any number of waiters, who learn it a few thread-pool work items at a time: the
/// waiters, in the order they came, are split into one relay per processor; each woken waiter first queues the next of
/// its relay (on the global queue, behind the work queued meanwhile), then resumes inline.
/// </summary>
/// <remarks>
/// A task completed with <see cref="TaskCreationOptions.RunContinuationsAsynchronously"/> queues all its continuations
/// at once on the completing thread's local queue, and a thread drains its local queue before it looks at the global
/// one, where the server's socket reads wait. When a herd of 200 followers woke that way, every request that arrived
/// meanwhile (the next leader of the same key among them) waited until all 200 were answered. Relayed, every thread
/// can take a waiter as soon as it is free, and a new request waits behind at most one waiter per relay. A waiter whose
/// token is cancelled leaves the line at once.
/// </remarks>
/// <typeparam name="T">The result's type.</typeparam>
internal sealed class RelayCompletion<T>
{
    private readonly Lock _lock = new();
    private Waiter? _first;
    private Waiter? _last;
    private int _waiting;
    private T? _result;
    private volatile bool _completed;

    /// <summary>Gets how many wait for the result (none once it is set).</summary>
    public int Waiting
    {
        get
        {
            lock (_lock)
            {
                return _waiting;
            }
        }
    }

    /// <summary>Gets the result when it is set, without waiting.</summary>
    public bool TryGetResult([MaybeNullWhen(false)] out T result)
    {
        if (_completed)
        {
            result = _result!;
            return true;
        }

        result = default;
        return false;
    }

    /// <summary>Waits for the result; the task completes in the waiter's turn of its relay, or is cancelled (and the
    /// waiter leaves the line) when <paramref name="cancellationToken"/> is cancelled first.</summary>
    public Task<T> WaitAsync(CancellationToken cancellationToken = default)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            return Task.FromCanceled<T>(cancellationToken);
        }

        lock (_lock)
        {
            if (!_completed)
            {
                var waiter = new Waiter(this);
                if (_last is null)
                {
                    _first = waiter;
                }
                else
                {
                    _last.Next = waiter;
                    waiter.Previous = _last;
                }

                _last = waiter;
                _waiting++;

                // Registered under the lock, so the registration is in place before the waiter's turn can come. A token
                // cancelled since the check above runs Cancel here, re-entering the lock; nobody awaits the task yet, so
                // cancelling it runs nothing.
                if (cancellationToken.CanBeCanceled)
                {
                    waiter.Registration = cancellationToken.UnsafeRegister(static (state, token) => ((Waiter)state!).Cancel(token), waiter);
                }

                return waiter.Task;
            }
        }

        return Task.FromResult(_result!);
    }

    /// <summary>Sets the result and starts the relays of its waiters; <see langword="false"/> when it was set before.</summary>
    public bool TrySetResult(T result)
    {
        Waiter? first;
        int count;
        lock (_lock)
        {
            if (_completed)
            {
                return false;
            }

            _result = result;
            _completed = true;
            first = _first;
            count = _waiting;
            _first = _last = null;
            _waiting = 0;
        }

        if (first is not null)
        {
            StartRelays(first, count);
        }

        return true;
    }

    /// <summary>Splits the waiters, in their order, into one relay per processor (waiter i hands on to waiter i + the
    /// number of relays) and queues the head of each. The line is detached, so nothing changes it meanwhile.</summary>
    private static void StartRelays(Waiter first, int count)
    {
        // Waiter i hands on to waiter i + relays: walk the line with a second pointer that many places ahead.
        var relays = Math.Min(count, Environment.ProcessorCount);
        var ahead = first;
        for (var skipped = 0; skipped < relays; skipped++)
        {
            ahead = ahead!.Next;
        }

        for (var waiter = first; ahead is not null; waiter = waiter.Next!, ahead = ahead.Next)
        {
            waiter.Relay = ahead;
        }

        var head = first;
        for (var relay = 0; relay < relays; relay++, head = head.Next!)
        {
            ThreadPool.UnsafeQueueUserWorkItem(head, preferLocal: false);
        }
    }

    /// <summary>Takes a waiter out of the line; false when the result was set first (its turn will come).</summary>
    private bool TryLeave(Waiter waiter)
    {
        lock (_lock)
        {
            if (_completed)
            {
                return false;
            }

            if (waiter.Previous is null)
            {
                _first = waiter.Next;
            }
            else
            {
                waiter.Previous.Next = waiter.Next;
            }

            if (waiter.Next is null)
            {
                _last = waiter.Previous;
            }
            else
            {
                waiter.Next.Previous = waiter.Previous;
            }

            _waiting--;
            Debug.Assert(_waiting >= 0 && (_waiting == 0) == (_first is null), "The count and the line agree.");
            return true;
        }
    }

    /// <summary>One waiter: its task runs continuations inline, so the waiter resumes within its own work item.</summary>
    private sealed class Waiter(RelayCompletion<T> completion) : TaskCompletionSource<T>, IThreadPoolWorkItem
    {
        /// <summary>The line, in arrival order; changed under the completion's lock until the result is set.</summary>
        public Waiter? Previous { get; set; }

        public Waiter? Next { get; set; }

        /// <summary>The waiter this one hands on to; set once the result is, before any turn.</summary>
        public Waiter? Relay { get; set; }

        /// <summary>Set under the completion's lock, before the waiter can be relayed.</summary>
        public CancellationTokenRegistration Registration { get; set; }

        public void Execute()
        {
            if (Relay is { } next)
            {
                ThreadPool.UnsafeQueueUserWorkItem(next, preferLocal: false);
            }

            // A cancellation that fires now finds the result set and leaves the waiter to its turn.
            Registration.Unregister();
            TrySetResult(completion._result!);
        }

        public void Cancel(CancellationToken token)
        {
            if (completion.TryLeave(this))
            {
                TrySetCanceled(token);
            }
        }
    }
}
