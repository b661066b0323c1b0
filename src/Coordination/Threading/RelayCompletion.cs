using System.Diagnostics.CodeAnalysis;

namespace Coordination.Threading;

/// <summary>
/// A result set once and awaited by any number of waiters, who learn it one thread-pool work item at a time: each
/// woken waiter first queues the next one (on the global queue, behind the work queued meanwhile), then resumes
/// inline.
/// </summary>
/// <remarks>
/// A task completed with <see cref="TaskCreationOptions.RunContinuationsAsynchronously"/> queues all its continuations
/// at once on the completing thread's local queue, and a thread drains its local queue before it looks at the global
/// one, where the server's new connections and requests wait. When a herd of 200 followers wakes that way, every
/// request that arrives meanwhile (the next leader of the same key among them) waits until all 200 are answered.
/// Relayed, the followers are answered as fast (each thread takes the next waiter as soon as it is free) and a new
/// request waits behind at most one waiter per thread. A waiter that stopped waiting (its <c>WaitAsync</c> was
/// cancelled) stays in the relay until the result is set: it is passed over at no cost then.
/// </remarks>
/// <typeparam name="T">The result's type.</typeparam>
internal sealed class RelayCompletion<T>
{
    private readonly Lock _lock = new();
    private Waiter? _first;
    private Waiter? _last;
    private T? _result;
    private volatile bool _completed;

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

    /// <summary>Waits for the result; the task completes in the waiter's turn of the relay.</summary>
    public Task<T> WaitAsync()
    {
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
                }

                _last = waiter;
                return waiter.Task;
            }
        }

        return Task.FromResult(_result!);
    }

    /// <summary>Sets the result and starts the relay of its waiters; <see langword="false"/> when it was set before.</summary>
    public bool TrySetResult(T result)
    {
        Waiter? first;
        lock (_lock)
        {
            if (_completed)
            {
                return false;
            }

            _result = result;
            _completed = true;
            first = _first;
            _first = _last = null;
        }

        if (first is not null)
        {
            ThreadPool.UnsafeQueueUserWorkItem(first, preferLocal: false);
        }

        return true;
    }

    /// <summary>One waiter: its task runs continuations inline, so the waiter resumes within its own work item.</summary>
    private sealed class Waiter(RelayCompletion<T> completion) : TaskCompletionSource<T>, IThreadPoolWorkItem
    {
        public Waiter? Next { get; set; }

        public void Execute()
        {
            if (Next is { } next)
            {
                ThreadPool.UnsafeQueueUserWorkItem(next, preferLocal: false);
            }

            TrySetResult(completion._result!);
        }
    }
}
