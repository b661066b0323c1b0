namespace Coordination.Tasks;

/// <summary>Thrown when a worker releases or extends a claim it no longer holds: another worker (or an anonymous lease)
/// holds the task now, or the worker's own claim ran out. The call changed nothing.</summary>
public sealed class ClaimLostException : Exception
{
    /// <summary>Initializes a new instance with a default message.</summary>
    public ClaimLostException()
        : base("The claim was lost.")
    {
    }

    /// <summary>Initializes a new instance with the given message.</summary>
    /// <param name="message">The message.</param>
    public ClaimLostException(string message)
        : base(message)
    {
    }

    /// <summary>Initializes a new instance with the given message and cause.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The cause.</param>
    public ClaimLostException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Gets the task.</summary>
    public long TaskId { get; init; }

    /// <summary>Gets the worker that asked.</summary>
    public string? WorkerId { get; init; }
}
