namespace Coordination.Ingestion;

/// <summary>Thrown by a handler for an event that can never succeed: the event is dead-lettered at once, without retries.</summary>
public sealed class PermanentEventException : Exception
{
    /// <summary>Initializes a new instance with a default message.</summary>
    public PermanentEventException()
        : base("The event can never be handled.")
    {
    }

    /// <summary>Initializes a new instance with the given message.</summary>
    /// <param name="message">The message.</param>
    public PermanentEventException(string message)
        : base(message)
    {
    }

    /// <summary>Initializes a new instance with the given message and cause.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The cause.</param>
    public PermanentEventException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
