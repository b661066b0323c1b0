namespace Coordination.Batching;

/// <summary>Thrown when a key already has MaxPendingPerKey operations waiting for a batch; the operation was not queued and will not run.</summary>
public sealed class BatchQueueFullException : Exception
{
    /// <summary>Initializes a new instance with a default message.</summary>
    public BatchQueueFullException()
        : base("Too many operations are waiting for this key.")
    {
    }

    /// <summary>Initializes a new instance with the given message.</summary>
    /// <param name="message">The message.</param>
    public BatchQueueFullException(string message)
        : base(message)
    {
    }

    /// <summary>Initializes a new instance with the given message and cause.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The cause.</param>
    public BatchQueueFullException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
