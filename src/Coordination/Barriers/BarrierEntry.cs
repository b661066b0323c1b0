namespace Coordination.Barriers;

/// <summary>The answer of <see cref="KeyedBarrier.Enter"/>.</summary>
/// <param name="Accepted">Whether the job may enter the pipeline.</param>
/// <param name="PreviousFailedJobId">The failed job that blocks the key, if any; <see langword="null"/> with
/// <paramref name="Accepted"/> false means the drain limiter, not a failed job, held the job back.</param>
public readonly record struct BarrierEntry(bool Accepted, long? PreviousFailedJobId);
