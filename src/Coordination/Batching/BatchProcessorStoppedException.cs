namespace Coordination.Batching;

/// <summary>Thrown when an operation is submitted to a batch processor that is stopping or stopped, or when the processor stopped before the operation's batch could start; the operation did not run.</summary>
public sealed class BatchProcessorStoppedException : Exception
{
    /// <summary>Initializes a new instance with a default message.</summary>
    public BatchProcessorStoppedException()
        : base("The batch processor is stopped.")
    {
    }

    /// <summary>Initializes a new instance with the given message.</summary>
    /// <param name="message">The message.</param>
    public BatchProcessorStoppedException(string message)
        : base(message)
    {
    }

    /// <summary>Initializes a new instance with the given message and cause.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The cause.</param>
    public BatchProcessorStoppedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
