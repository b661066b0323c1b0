namespace Coordination.Tasks;

/// <summary>A named worker's claim on one task, from <see cref="ITaskStore.ClaimAsync"/>.</summary>
/// <param name="Task">The claimed task; its (Id, LeaseVersion) fences every write made under the claim.</param>
/// <param name="WorkerId">The worker that holds the claim.</param>
/// <param name="ClaimedAt">When the claim was taken, by the store's clock.</param>
/// <param name="ExpiresAt">When the claim runs out unless extended, by the store's clock.</param>
public sealed record TaskClaim(TaskItem Task, string WorkerId, DateTimeOffset ClaimedAt, DateTimeOffset ExpiresAt);
