namespace Coordination.Batching;

/// <summary>Options of a <see cref="BatchProcessor{TResource}"/>.</summary>
/// <typeparam name="TResource">The resource type.</typeparam>
public sealed class BatchProcessorOptions<TResource>
    where TResource : class
{
    /// <summary>Gets or sets how long a batch keeps accepting operations after it starts.</summary>
    /// <remarks>Zero is group commit: a batch takes whatever arrived while it loaded and ran, and whatever arrives
    /// during its save forms the next batch. Greater than zero is the seed's fixed window: every operation waits for it,
    /// so it caps throughput at callers ÷ window.</remarks>
    /// <value>The default value is <see cref="TimeSpan.Zero"/> (group commit). Allowed: 0 to 1 hour.</value>
    public TimeSpan MinDuration { get; set; } = TimeSpan.Zero;

    /// <summary>Gets or sets a deadline for a whole batch: load, operations, save and the disposal of its DI scope.</summary>
    /// <remarks>Past it the batch is aborted: every caller in it gets a <see cref="BatchAbortedException"/> whose
    /// inner exception is a <see cref="TimeoutException"/>, and the load or save token is cancelled. The batch stops
    /// waiting at the deadline even if the store ignores its token: such a call is logged as abandoned, its outcome is
    /// unknown, and the key is free for the next batch. A scope disposal that passes the deadline after a successful
    /// save is abandoned the same way; the callers succeed.</remarks>
    /// <value>The default value is <see langword="null"/>: twice <see cref="MinDuration"/>, and at least 1 second.
    /// Allowed: greater than zero, not less than <see cref="MinDuration"/>, and at most 49.7 days (what a timer accepts).</value>
    public TimeSpan? MaxDuration { get; set; }

    /// <summary>Gets or sets the most operations in one batch; a full batch closes early.</summary>
    /// <value>The default value is <see langword="null"/> (no limit). Allowed: at least 1.</value>
    public int? MaxBatchSize { get; set; }

    /// <summary>Gets or sets the most operations of one key waiting for a batch; past it a call fails fast with
    /// <see cref="BatchQueueFullException"/> instead of queueing without bound.</summary>
    /// <value>The default value is <see langword="null"/> (no limit). Allowed: at least 1.</value>
    public int? MaxPendingPerKey { get; set; }

    /// <summary>Gets or sets the most batches running at once, across keys.</summary>
    /// <value>The default value is 16 × <see cref="Environment.ProcessorCount"/>. Allowed: 1 to 65,536.</value>
    public int Workers { get; set; } = 16 * Environment.ProcessorCount;

    /// <summary>Gets or sets a function that pins each key to one of <see cref="Workers"/> workers (key, workers) → index.</summary>
    /// <remarks>Pinned keys share their worker: a slow key delays the keys pinned with it. Leave unset unless batches of
    /// different keys must not overlap. It must be deterministic and return 0 to workers - 1.</remarks>
    /// <value>The default value is <see langword="null"/>: keys are not pinned, and one slow key never delays another.</value>
    public Func<string, int, int>? WorkerForKey { get; set; }

    /// <summary>Gets or sets how a batch loads its resource when no <see cref="IBatchResourceStore{TResource}"/> is registered.</summary>
    /// <value>The default value is <see langword="null"/>: a new resource from its parameterless constructor.</value>
    public Func<string, CancellationToken, ValueTask<TResource>>? LoadResource { get; set; }

    /// <summary>Gets or sets how a batch saves its resource when no <see cref="IBatchResourceStore{TResource}"/> is registered.</summary>
    /// <value>The default value is <see langword="null"/>: nothing is saved.</value>
    public Func<string, TResource, CancellationToken, ValueTask>? SaveResource { get; set; }

    internal TimeSpan EffectiveMaxDuration => MaxDuration ?? TimeSpan.FromTicks(Math.Max(2 * MinDuration.Ticks, TimeSpan.TicksPerSecond));

    internal IEnumerable<string> Validate(string name)
    {
        if (MinDuration < TimeSpan.Zero || MinDuration > TimeSpan.FromHours(1))
        {
            yield return $"Batch processor '{name}': {nameof(MinDuration)} is {MinDuration}; allowed 0 to 01:00:00.";
        }

        if (MaxDuration is { } max && (!OptionsValidation.IsTimerDelay(max) || max < MinDuration))
        {
            yield return $"Batch processor '{name}': {nameof(MaxDuration)} is {max}; allowed greater than zero, at least {nameof(MinDuration)} ({MinDuration}) and at most {OptionsValidation.MaxTimerDelay} (what a timer accepts; a batch always has a deadline), or null for the default.";
        }

        if (MaxBatchSize is < 1)
        {
            yield return $"Batch processor '{name}': {nameof(MaxBatchSize)} is {MaxBatchSize}; allowed at least 1, or null for no limit.";
        }

        if (MaxPendingPerKey is < 1)
        {
            yield return $"Batch processor '{name}': {nameof(MaxPendingPerKey)} is {MaxPendingPerKey}; allowed at least 1, or null for no limit.";
        }

        if (Workers is < 1 or > 65_536)
        {
            yield return $"Batch processor '{name}': {nameof(Workers)} is {Workers}; allowed 1 to 65536.";
        }
    }
}
