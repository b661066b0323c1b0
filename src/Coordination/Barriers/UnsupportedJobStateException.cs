namespace Coordination.Barriers;

/// <summary>Thrown when <see cref="KeyedBarrier.StateChanged"/> is given a state the barrier does not handle
/// (such as <see cref="JobState.Executing"/>); the barrier is left unchanged.</summary>
public sealed class UnsupportedJobStateException : Exception
{
    /// <summary>Initializes a new instance with a default message.</summary>
    public UnsupportedJobStateException()
        : base("The job state is not supported by the barrier.")
    {
    }

    /// <summary>Initializes a new instance with the given message.</summary>
    /// <param name="message">The message.</param>
    public UnsupportedJobStateException(string message)
        : base(message)
    {
    }

    /// <summary>Initializes a new instance with the given message and cause.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The cause.</param>
    public UnsupportedJobStateException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
