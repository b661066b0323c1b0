namespace Coordination.Tasks;

/// <summary>How many tasks a group holds.</summary>
/// <param name="Ready">Tasks that can be claimed now.</param>
/// <param name="Leased">Tasks claimed and not yet settled, whose lease has not run out.</param>
/// <param name="Scheduled">Tasks that become ready later: created for later, or waiting out a retry's backoff.</param>
public readonly record struct TaskGroupCounts(int Ready, int Leased, int Scheduled)
{
    /// <summary>Gets the number of tasks in the group.</summary>
    public int Total => Ready + Leased + Scheduled;
}
