namespace Coordination.Ingestion;

/// <summary>The dispatch lease an event was read under has passed to another dispatcher: its new state was not saved
/// (the other dispatcher owns the event now).</summary>
public sealed class DispatchLeaseLostException : Exception
{
    /// <summary>Initializes a new instance with a default message.</summary>
    public DispatchLeaseLostException()
        : this("The dispatch lease passed to another dispatcher; nothing was saved.")
    {
    }

    /// <summary>Initializes a new instance with a message.</summary>
    /// <param name="message">The message.</param>
    public DispatchLeaseLostException(string message)
        : base(message)
    {
    }

    /// <summary>Initializes a new instance with a message and the exception that caused it.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The cause.</param>
    public DispatchLeaseLostException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }
}
