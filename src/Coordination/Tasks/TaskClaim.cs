namespace Coordination.Tasks;

/// <summary>A named worker's claim on one task, from <see cref="ITaskStore.ClaimAsync"/>.</summary>
/// <param name="Task">The claimed task; its (Id, LeaseVersion) fences every write made under the claim.</param>
/// <param name="WorkerId">The worker that holds the claim.</param>
/// <param name="ClaimedAt">When the claim was taken, by the store's clock.</param>
/// <param name="ExpiresAt">When the claim runs out unless extended, by the store's clock; <see cref="DateTimeOffset.MaxValue"/>
/// for a claim without a TTL, which lasts until released.</param>
public sealed record TaskClaim(TaskItem Task, string WorkerId, DateTimeOffset ClaimedAt, DateTimeOffset ExpiresAt)
{
    /// <summary>Throws unless <paramref name="ttl"/> is positive or <see cref="Timeout.InfiniteTimeSpan"/>.</summary>
    internal static void ThrowIfInvalidTtl(TimeSpan ttl)
    {
        if (ttl <= TimeSpan.Zero && ttl != Timeout.InfiniteTimeSpan)
        {
            throw new ArgumentOutOfRangeException(nameof(ttl), ttl, "A claim's TTL must be positive, or Timeout.InfiniteTimeSpan for a claim that lasts until released.");
        }
    }

    /// <summary>When a claim taken at <paramref name="now"/> for <paramref name="ttl"/> runs out.</summary>
    internal static DateTimeOffset Expiry(DateTimeOffset now, TimeSpan ttl) => ttl == Timeout.InfiniteTimeSpan ? DateTimeOffset.MaxValue : now + ttl;
}
