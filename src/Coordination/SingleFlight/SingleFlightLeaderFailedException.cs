namespace Coordination.SingleFlight;

/// <summary>
/// Thrown to the followers of a single-flight execution whose leader's work failed.
/// <see cref="Exception.InnerException"/> is the leader's exception; the leader itself gets that exception unchanged.
/// </summary>
public sealed class SingleFlightLeaderFailedException : Exception
{
    /// <summary>Initializes a new instance with a default message.</summary>
    public SingleFlightLeaderFailedException()
        : base("The shared single-flight execution failed.")
    {
    }

    /// <summary>Initializes a new instance with the given message.</summary>
    /// <param name="message">The message.</param>
    public SingleFlightLeaderFailedException(string message)
        : base(message)
    {
    }

    /// <summary>Initializes a new instance with the given message and the leader's exception.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The leader's exception.</param>
    public SingleFlightLeaderFailedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
