namespace Coordination.Batching;

/// <summary>Thrown to every caller of a batch whose load or save failed, or that passed its MaxDuration. The inner exception is the cause; none of the batch's changes were saved.</summary>
public sealed class BatchAbortedException : Exception
{
    /// <summary>Initializes a new instance with a default message.</summary>
    public BatchAbortedException()
        : base("The batch was aborted.")
    {
    }

    /// <summary>Initializes a new instance with the given message.</summary>
    /// <param name="message">The message.</param>
    public BatchAbortedException(string message)
        : base(message)
    {
    }

    /// <summary>Initializes a new instance with the given message and cause.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The cause.</param>
    public BatchAbortedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
