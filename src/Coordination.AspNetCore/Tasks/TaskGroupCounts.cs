namespace Coordination.Tasks;

/// <summary>How many tasks a group holds.</summary>
/// <param name="Ready">Tasks that can be claimed now.</param>
/// <param name="Waiting">Tasks leased, or scheduled for later (not-before in the future).</param>
public readonly record struct TaskGroupCounts(int Ready, int Waiting);
