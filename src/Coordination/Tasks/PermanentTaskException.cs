namespace Coordination.Tasks;

/// <summary>Thrown by a task handler for a task that can never succeed: the task moves to its queue's error group at once, with this message as its error.</summary>
public sealed class PermanentTaskException : Exception
{
    /// <summary>Initializes a new instance with a default message.</summary>
    public PermanentTaskException()
        : base("The task can never succeed.")
    {
    }

    /// <summary>Initializes a new instance with the given message.</summary>
    /// <param name="message">The message.</param>
    public PermanentTaskException(string message)
        : base(message)
    {
    }

    /// <summary>Initializes a new instance with the given message and cause.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The cause.</param>
    public PermanentTaskException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
