namespace Coordination.SingleFlight;

/// <summary>
/// Chooses which cancellation stops the shared work of a <see cref="SingleFlightGroup{TKey, TValue}"/> execution.
/// </summary>
public enum SingleFlightWorkCancellation
{
    /// <summary>
    /// The seed's semantics: the work runs on its leader's token. When the leader cancels, the leader stops
    /// waiting and the oldest waiting follower is promoted and runs its own work with its own token.
    /// </summary>
    LeaderCancels = 0,

    /// <summary>
    /// The work runs on a token of its own that is cancelled only when every caller sharing it has cancelled.
    /// A leader that cancels stops waiting, but the work goes on for its followers. If the work still ends in
    /// cancellation while callers wait, the oldest waiting follower is promoted.
    /// </summary>
    LastCallerCancels = 1,
}
