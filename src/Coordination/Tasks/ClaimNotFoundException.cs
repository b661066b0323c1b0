namespace Coordination.Tasks;

/// <summary>Thrown when a worker releases or extends a claim that does not exist: the task is gone, is in another
/// group, or was never claimed by name (or was handed back since). The call changed nothing.</summary>
public sealed class ClaimNotFoundException : Exception
{
    /// <summary>Initializes a new instance with a default message.</summary>
    public ClaimNotFoundException()
        : base("No claim was found.")
    {
    }

    /// <summary>Initializes a new instance with the given message.</summary>
    /// <param name="message">The message.</param>
    public ClaimNotFoundException(string message)
        : base(message)
    {
    }

    /// <summary>Initializes a new instance with the given message and cause.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The cause.</param>
    public ClaimNotFoundException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Gets the task.</summary>
    public long TaskId { get; init; }

    /// <summary>Gets the worker that asked.</summary>
    public string? WorkerId { get; init; }
}
