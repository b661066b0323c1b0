namespace Coordination.Tasks;

/// <summary>Thrown when an operation names a task by (Id, LeaseVersion) and the task is gone or was claimed since: the
/// caller's lease is lost and the call changed nothing.</summary>
public sealed class LeaseLostException : Exception
{
    /// <summary>Initializes a new instance with a default message.</summary>
    public LeaseLostException()
        : base("The task's lease was lost.")
    {
    }

    /// <summary>Initializes a new instance with the given message.</summary>
    /// <param name="message">The message.</param>
    public LeaseLostException(string message)
        : base(message)
    {
    }

    /// <summary>Initializes a new instance with the given message and cause.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The cause.</param>
    public LeaseLostException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Gets the task whose lease was lost.</summary>
    public long TaskId { get; init; }

    /// <summary>Gets the lease version the caller held.</summary>
    public long LeaseVersion { get; init; }

    /// <summary>Gets whether the task no longer exists, rather than being held by another claim.</summary>
    /// <value><see langword="true"/> when the task was deleted: completed by a handler in its own transaction (see the
    /// PostgreSQL docs), or by an operator; <see langword="false"/> when another holder claimed it since.</value>
    public bool TaskGone { get; init; }
}
