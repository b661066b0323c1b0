namespace Coordination.Barriers;

/// <summary>The states a job reports to a <see cref="KeyedBarrier"/> through <see cref="KeyedBarrier.StateChanged"/>.</summary>
public enum JobState
{
    /// <summary>The job is being executed; not a state the barrier accepts (<see cref="UnsupportedJobStateException"/>).</summary>
    Executing = 0,

    /// <summary>The job was held behind a failed job and will be read again; leaves the drain limiter at the next <see cref="KeyedBarrier.Sync"/>.</summary>
    Waiting = 1,

    /// <summary>The job succeeded; opens its key at the next <see cref="KeyedBarrier.Sync"/> if it was the failed job or the key was draining.</summary>
    Succeeded = 2,

    /// <summary>The job failed in a retryable way; blocks its key at once.</summary>
    Failed = 3,

    /// <summary>The job failed for good; if it was the failed job, its key drains from the next <see cref="KeyedBarrier.Sync"/>.</summary>
    Aborted = 4,

    /// <summary>The job was filtered out; treated as <see cref="Succeeded"/>.</summary>
    Filtered = 5,
}
