namespace Coordination.Barriers;

/// <summary>The answer of <see cref="KeyedBarrier.Wait"/>.</summary>
/// <param name="MustWait">Whether the job must not run yet because an earlier job of its key failed.</param>
/// <param name="PreviousFailedJobId">The failed job that blocks the key, if any.</param>
public readonly record struct BarrierWait(bool MustWait, long? PreviousFailedJobId);
