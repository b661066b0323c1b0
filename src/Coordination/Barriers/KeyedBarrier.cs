using System.Text;

namespace Coordination.Barriers;

/// <summary>
/// Keeps the jobs of each key in order: once a job fails in a retryable way, later jobs of its key are held until it
/// succeeds or is aborted. A port of rudder-server's router barrier (v1.7 API).
/// </summary>
/// <remarks>
/// <para>Job ids increase within a key in the order the jobs were produced. <see cref="JobState.Failed"/> applies at
/// once; every other state is queued and applies at the next <see cref="Sync"/>, which exactly one dispatcher loop
/// calls at the start of each pass. The other members are safe to call from any thread.</para>
/// <para>States of a key: <b>open</b> (no entry: everything passes), <b>blocked</b> by a failed job F (only F enters;
/// later jobs are rejected and must wait), and <b>draining</b> after F was aborted (at most
/// <see cref="KeyedBarrierOptions.ConcurrencyLimit"/> jobs in the pipeline until a job of the key succeeds).</para>
/// <para>Beyond the seed, idle entries are purged: a key with no failed job and nothing admitted leaves nothing
/// behind, and a draining key that admitted nothing for a whole pass is open again.</para>
/// </remarks>
public sealed class KeyedBarrier
{
    private readonly Lock _sync = new();
    private readonly Dictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly List<Command> _commands = [];

    // Only draining keys can go idle, so the purge at each Sync looks at these alone, not at every blocked key.
    private readonly HashSet<string> _drainingKeys = new(StringComparer.Ordinal);
    private readonly int _concurrencyLimit;
    private readonly string? _metadata;
    private readonly bool _throwOnIllegalSequence;
    private readonly TimeProvider _timeProvider;
    private long _illegalSequences;

    /// <summary>Initializes a barrier.</summary>
    /// <param name="options">The options; <see langword="null"/> for the defaults.</param>
    /// <param name="timeProvider">The clock that dates blocked keys; <see cref="TimeProvider.System"/> when <see langword="null"/>.</param>
    /// <exception cref="ArgumentException">An option is out of range.</exception>
    public KeyedBarrier(KeyedBarrierOptions? options = null, TimeProvider? timeProvider = null)
    {
        _timeProvider = timeProvider ?? TimeProvider.System;
        options ??= new KeyedBarrierOptions();
        OptionsValidation.ThrowIfInvalid(options.Validate(options.Metadata ?? OptionsValidation.DefaultName), nameof(options));

        _concurrencyLimit = options.ConcurrencyLimit;
        _metadata = options.Metadata;
        _throwOnIllegalSequence = options.ThrowOnIllegalSequence;
    }

    /// <summary>Gets the number of keys the barrier holds an entry for (blocked or draining).</summary>
    public int Size
    {
        get
        {
            lock (_sync)
            {
                return _entries.Count;
            }
        }
    }

    /// <summary>Gets how many illegal job sequences were held instead of thrown
    /// (with <see cref="KeyedBarrierOptions.ThrowOnIllegalSequence"/> off).</summary>
    public long IllegalSequences => Interlocked.Read(ref _illegalSequences);

    /// <summary>Forgets every entry and queued state change: an ingestion dispatcher rebuilds from its log after another
    /// process dispatched the same log.</summary>
    internal void Clear()
    {
        lock (_sync)
        {
            _entries.Clear();
            _commands.Clear();
            _drainingKeys.Clear();
        }
    }

    /// <summary>Reads the entries, the blocked keys and how long the oldest has been blocked (for metrics).</summary>
    internal (int Entries, int BlockedKeys, TimeSpan OldestBlockedAge) GetStatistics()
    {
        lock (_sync)
        {
            var blocked = 0;
            long? oldest = null;
            foreach (var entry in _entries.Values)
            {
                if (entry.FailedJobId is not null)
                {
                    blocked++;
                    oldest = oldest is { } o ? Math.Min(o, entry.BlockedSince) : entry.BlockedSince;
                }
            }

            return (_entries.Count, blocked, oldest is { } since ? _timeProvider.GetElapsedTime(since) : TimeSpan.Zero);
        }
    }

    /// <summary>Asks whether a job may enter the pipeline.</summary>
    /// <param name="key">The ordering key.</param>
    /// <param name="jobId">The job id.</param>
    /// <returns>Accepted with no failed id on an open key; accepted with its own id for the failed job itself; rejected
    /// with the failed id behind a failed job; rejected with no id when a draining key is at its limit.</returns>
    /// <exception cref="IllegalJobSequenceException">The id is lower than the key's failed job.</exception>
    public BarrierEntry Enter(string key, long jobId)
    {
        ArgumentNullException.ThrowIfNull(key);
        lock (_sync)
        {
            if (!_entries.TryGetValue(key, out var entry))
            {
                return new BarrierEntry(true, null);
            }

            if (entry.FailedJobId is { } failed)
            {
                if (jobId < failed)
                {
                    IllegalSequence(key, jobId, failed, "Enter");
                    return new BarrierEntry(false, failed);
                }

                return new BarrierEntry(jobId == failed, failed);
            }

            var draining = entry.Draining!;
            if (draining.Contains(jobId))
            {
                return new BarrierEntry(true, null);
            }

            if (draining.Count >= _concurrencyLimit)
            {
                return new BarrierEntry(false, null);
            }

            draining.Add(jobId);
            entry.IdlePasses = 0;
            return new BarrierEntry(true, null);
        }
    }

    /// <summary>Asks, just before a job runs, whether it must wait for an earlier failed job of its key.</summary>
    /// <param name="key">The ordering key.</param>
    /// <param name="jobId">The job id.</param>
    /// <returns>Must wait (with the failed id) when an earlier job of the key failed; the drain limiter is not consulted.</returns>
    /// <exception cref="IllegalJobSequenceException">The id is lower than the key's failed job.</exception>
    public BarrierWait Wait(string key, long jobId)
    {
        ArgumentNullException.ThrowIfNull(key);
        lock (_sync)
        {
            if (!_entries.TryGetValue(key, out var entry) || entry.FailedJobId is not { } failed)
            {
                return new BarrierWait(false, null);
            }

            if (jobId < failed)
            {
                IllegalSequence(key, jobId, failed, "Wait");
                return new BarrierWait(true, failed);
            }

            return new BarrierWait(jobId > failed, failed);
        }
    }

    /// <summary>Undoes an <see cref="Enter"/> (for example when a job was admitted but then throttled). Idempotent.</summary>
    /// <param name="key">The ordering key.</param>
    /// <param name="jobId">The job id.</param>
    public void Leave(string key, long jobId)
    {
        ArgumentNullException.ThrowIfNull(key);
        lock (_sync)
        {
            if (_entries.TryGetValue(key, out var entry))
            {
                entry.Draining?.Remove(jobId);
            }
        }
    }

    /// <summary>Returns the failed job that blocks a key, if any.</summary>
    /// <param name="key">The ordering key.</param>
    /// <returns>The failed job id, or <see langword="null"/>.</returns>
    public long? Peek(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        lock (_sync)
        {
            return _entries.TryGetValue(key, out var entry) ? entry.FailedJobId : null;
        }
    }

    /// <summary>Reports a job's new state, after it was persisted (a retryable failure may be reported at once).</summary>
    /// <param name="key">The ordering key.</param>
    /// <param name="jobId">The job id.</param>
    /// <param name="state">The new state: <see cref="JobState.Failed"/> applies at once; the others at the next <see cref="Sync"/>.</param>
    /// <exception cref="UnsupportedJobStateException">The state is not one the barrier handles; nothing changes.</exception>
    /// <exception cref="IllegalJobSequenceException">A failure was reported for an id lower than the key's failed job.</exception>
    public void StateChanged(string key, long jobId, JobState state)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (state is not (JobState.Waiting or JobState.Succeeded or JobState.Failed or JobState.Aborted or JobState.Filtered))
        {
            throw new UnsupportedJobStateException($"Keyed barrier{Described()}: state {state} of job {jobId} (key '{key}') is not supported; use Waiting, Succeeded, Failed, Aborted or Filtered.");
        }

        lock (_sync)
        {
            if (state == JobState.Failed)
            {
                Fail(key, jobId);
            }
            else if (_entries.ContainsKey(key))
            {
                // Without an entry the command would change nothing; with one it waits for the dispatcher's next pass.
                _commands.Add(new Command(key, jobId, state));
            }
        }
    }

    /// <summary>Applies the queued state changes in arrival order; the dispatcher calls it at the start of each pass.</summary>
    /// <returns>How many state changes were applied.</returns>
    public int Sync()
    {
        lock (_sync)
        {
            foreach (var command in _commands)
            {
                Apply(command);
            }

            var applied = _commands.Count;
            _commands.Clear();
            PurgeIdleDrainingKeys();
            return applied;
        }
    }

    /// <summary>Describes every entry (key, failed job, jobs admitted while draining) and the metadata.</summary>
    /// <returns>A readable dump, for debugging.</returns>
    public override string ToString()
    {
        lock (_sync)
        {
            var text = new StringBuilder("KeyedBarrier{");
            if (_metadata is not null)
            {
                text.Append("metadata: ").Append(_metadata).Append(", ");
            }

            text.Append("entries: [");
            var first = true;
            foreach (var (key, entry) in _entries.OrderBy(e => e.Key, StringComparer.Ordinal))
            {
                text.Append(first ? string.Empty : ", ").Append("{key: ").Append(key);
                text.Append(", failedJobId: ").Append(entry.FailedJobId?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "none");
                if (entry.Draining is { } draining)
                {
                    text.Append(", draining: [").AppendJoin(", ", draining.Order()).Append(']');
                }

                text.Append('}');
                first = false;
            }

            return text.Append("]}").ToString();
        }
    }

    private void Fail(string key, long jobId)
    {
        if (!_entries.TryGetValue(key, out var entry))
        {
            _entries[key] = new Entry { FailedJobId = jobId, BlockedSince = _timeProvider.GetTimestamp() };
            return;
        }

        if (entry.FailedJobId is { } failed)
        {
            if (jobId < failed)
            {
                IllegalSequence(key, jobId, failed, "failed");
            }

            // A later job failing too (in the same batch, say) keeps the earlier one as the blocker.
            return;
        }

        // A draining key that fails again is blocked by that job, and stops draining.
        _drainingKeys.Remove(key);
        entry.FailedJobId = jobId;
        entry.BlockedSince = _timeProvider.GetTimestamp();
        entry.Draining = null;
    }

    private void Apply(Command command)
    {
        if (!_entries.TryGetValue(command.Key, out var entry))
        {
            return;
        }

        switch (command.State)
        {
            case JobState.Succeeded or JobState.Filtered:
                // The failed job succeeded, or any job of a draining key did: the key is open. A success of some other
                // job while blocked is out of sync and ignored.
                if (entry.FailedJobId is null || entry.FailedJobId == command.JobId)
                {
                    Remove(command.Key);
                }

                break;

            case JobState.Aborted when entry.FailedJobId is { } failed:
                if (failed == command.JobId)
                {
                    entry.FailedJobId = null;
                    entry.Draining = [];
                    entry.IdlePasses = 0;
                    _drainingKeys.Add(command.Key);
                }

                break;

            case JobState.Aborted:
                // A draining key whose admitted job (one that never failed) is aborted is open again.
                Remove(command.Key);
                break;

            case JobState.Waiting:
                entry.Draining?.Remove(command.JobId);
                break;
        }
    }

    /// <summary>A draining key that admitted nothing for a whole pass has nothing left to drain.</summary>
    private void PurgeIdleDrainingKeys()
    {
        List<string>? idle = null;
        foreach (var key in _drainingKeys)
        {
            var entry = _entries[key];
            if (entry.Draining is { Count: 0 } && entry.IdlePasses++ >= 1)
            {
                (idle ??= []).Add(key);
            }
        }

        if (idle is not null)
        {
            foreach (var key in idle)
            {
                Remove(key);
            }
        }
    }

    private void Remove(string key)
    {
        _entries.Remove(key);
        _drainingKeys.Remove(key);
    }

    private void IllegalSequence(string key, long jobId, long failedJobId, string where)
    {
        if (_throwOnIllegalSequence)
        {
            throw new IllegalJobSequenceException(
                $"Keyed barrier{Described()}: illegal job sequence at {where} for key '{key}': job {jobId} came after job {failedJobId} had failed; job ids of a key must arrive in increasing order.");
        }

        Interlocked.Increment(ref _illegalSequences);
    }

    private string Described() => _metadata is null ? string.Empty : $" ({_metadata})";

    private readonly record struct Command(string Key, long JobId, JobState State);

    private sealed class Entry
    {
        /// <summary>The failed job that blocks the key; <see langword="null"/> while the key drains.</summary>
        public long? FailedJobId;

        /// <summary>While draining: the jobs admitted since the failed job was aborted.</summary>
        public HashSet<long>? Draining;

        public int IdlePasses;

        public long BlockedSince;
    }
}
