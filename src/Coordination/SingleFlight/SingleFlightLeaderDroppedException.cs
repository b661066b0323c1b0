namespace Coordination.SingleFlight;

/// <summary>
/// Thrown to a follower when the leader of its single-flight execution dropped (was cancelled) and no new leader
/// is elected for it: the follower called <c>RunWithoutRetryAsync</c>, or the flight reached its
/// <see cref="SingleFlightGroupOptions.MaxPromotions"/>.
/// </summary>
public sealed class SingleFlightLeaderDroppedException : Exception
{
    /// <summary>Initializes a new instance with a default message.</summary>
    public SingleFlightLeaderDroppedException()
        : base("The leader of the shared single-flight execution was cancelled.")
    {
    }

    /// <summary>Initializes a new instance with the given message.</summary>
    /// <param name="message">The message.</param>
    public SingleFlightLeaderDroppedException(string message)
        : base(message)
    {
    }

    /// <summary>Initializes a new instance with the given message and cause.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The cancellation that dropped the leader, when known.</param>
    public SingleFlightLeaderDroppedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
