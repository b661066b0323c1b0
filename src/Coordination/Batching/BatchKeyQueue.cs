using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;

namespace Coordination.Batching;

/// <summary>One key's queue of a batch processor; lives while the key has operations waiting or a batch running.</summary>
/// <remarks>Its fields are guarded by <c>lock (this)</c>; the processor takes the lock to queue, start a loop and retire the key.</remarks>
internal sealed class BatchKeyQueue<TResource>(string key, Action countWithdrawn)
    where TResource : class
{
    public readonly string Key = key;

    public readonly Queue<BatchOperation<TResource>> Pending = new();

    /// <summary>The operations queued and not withdrawn; <see cref="Pending"/> may still hold withdrawn ones.</summary>
    public int Waiting;

    public bool Running;

    public bool Retired;

    public TaskCompletionSource? Arrival;

    /// <summary>Takes the next operation that was not withdrawn, if any.</summary>
    public bool TryTake([NotNullWhen(true)] out BatchOperation<TResource>? operation)
    {
        lock (this)
        {
            while (Pending.TryDequeue(out operation))
            {
                if (operation.TryStart())
                {
                    Waiting--;
                    Debug.Assert(Waiting >= 0, "More operations taken than queued.");
                    return true;
                }
            }
        }

        return false;
    }

    /// <summary>Counts out an operation its caller withdrew before a batch took it.</summary>
    public void Withdrawn()
    {
        lock (this)
        {
            Waiting--;
            Debug.Assert(Waiting >= 0, "More operations withdrawn than queued.");
        }

        countWithdrawn();
    }

    /// <summary>Retires the queue and takes it out of <paramref name="keys"/> if nothing waits; a later call for the key
    /// then starts a fresh queue.</summary>
    public bool TryRetireIdle(ConcurrentDictionary<string, BatchKeyQueue<TResource>> keys)
    {
        lock (this)
        {
            if (Waiting != 0)
            {
                return false;
            }

            Pending.Clear();
            Retire(keys);
            return true;
        }
    }

    /// <summary>Retires the queue, takes it out of <paramref name="keys"/> and returns every operation still waiting.</summary>
    public List<BatchOperation<TResource>> RetireAndTakeAll(ConcurrentDictionary<string, BatchKeyQueue<TResource>> keys)
    {
        var taken = new List<BatchOperation<TResource>>();
        lock (this)
        {
            while (Pending.TryDequeue(out var operation))
            {
                if (operation.TryStart())
                {
                    taken.Add(operation);
                }
            }

            Waiting = 0;
            Retire(keys);
        }

        return taken;
    }

    private void Retire(ConcurrentDictionary<string, BatchKeyQueue<TResource>> keys)
    {
        Running = false;
        Retired = true;
        keys.TryRemove(KeyValuePair.Create(Key, this));
    }
}
