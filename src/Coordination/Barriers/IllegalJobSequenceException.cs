namespace Coordination.Barriers;

/// <summary>Thrown when a job id lower than its key's failed job reaches <see cref="KeyedBarrier.Enter"/>,
/// <see cref="KeyedBarrier.Wait"/> or a <see cref="JobState.Failed"/> report: jobs of a key must arrive in id order.</summary>
public sealed class IllegalJobSequenceException : Exception
{
    /// <summary>Initializes a new instance with a default message.</summary>
    public IllegalJobSequenceException()
        : base("A job arrived after a later job of its key had failed.")
    {
    }

    /// <summary>Initializes a new instance with the given message.</summary>
    /// <param name="message">The message.</param>
    public IllegalJobSequenceException(string message)
        : base(message)
    {
    }

    /// <summary>Initializes a new instance with the given message and cause.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The cause.</param>
    public IllegalJobSequenceException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
