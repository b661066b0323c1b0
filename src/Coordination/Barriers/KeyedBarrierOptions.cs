namespace Coordination.Barriers;

/// <summary>Options of a <see cref="KeyedBarrier"/>.</summary>
public sealed class KeyedBarrierOptions
{
    /// <summary>Gets or sets how many jobs of a draining key may be in the pipeline at once.</summary>
    /// <remarks>A key drains after its failed job was aborted, until one of its jobs succeeds (or a job that never
    /// failed is aborted): the limit keeps its backlog from flooding the workers.</remarks>
    /// <value>The default value is 1. Allowed: at least 1.</value>
    public int ConcurrencyLimit { get; set; } = 1;

    /// <summary>Gets or sets text that identifies the barrier in exception messages and <see cref="KeyedBarrier.ToString"/>.</summary>
    /// <value>The default value is <see langword="null"/>.</value>
    public string? Metadata { get; set; }

    /// <summary>Gets or sets whether an illegal job sequence (an id lower than the key's failed job) throws
    /// <see cref="IllegalJobSequenceException"/>; when <see langword="false"/> the job is held and counted instead.</summary>
    /// <value>The default value is <see langword="true"/>.</value>
    public bool ThrowOnIllegalSequence { get; set; } = true;

    internal IEnumerable<string> Validate(string name)
    {
        if (ConcurrencyLimit < 1)
        {
            yield return $"Keyed barrier '{name}': {nameof(ConcurrencyLimit)} is {ConcurrencyLimit}; allowed at least 1.";
        }
    }
}
