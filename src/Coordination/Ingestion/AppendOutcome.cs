namespace Coordination.Ingestion;

/// <summary>What an <see cref="IEventLog.AppendAsync"/> did.</summary>
public enum AppendOutcome
{
    /// <summary>The events were appended.</summary>
    Appended = 0,

    /// <summary>The idempotency key was used within its window with the same fingerprint: nothing was appended; the ids
    /// are the first append's.</summary>
    Replayed = 1,

    /// <summary>The idempotency key was used within its window with another fingerprint: nothing was appended and there
    /// are no ids.</summary>
    FingerprintMismatch = 2,
}
