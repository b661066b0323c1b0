namespace Coordination.Ingestion;

/// <summary>Where an ingested event stands.</summary>
public enum EventState
{
    /// <summary>Accepted and not handled yet.</summary>
    Pending = 0,

    /// <summary>Held behind an earlier event of its key that failed (see <see cref="LoggedEvent.BlockingId"/>).</summary>
    Waiting = 1,

    /// <summary>Its handler failed in a retryable way; it runs again at <see cref="LoggedEvent.RetryAt"/>.</summary>
    Failed = 2,

    /// <summary>Its handler succeeded. Terminal.</summary>
    Succeeded = 3,

    /// <summary>It failed for good (a <see cref="PermanentEventException"/>, or out of attempts). Terminal.</summary>
    DeadLettered = 4,
}
