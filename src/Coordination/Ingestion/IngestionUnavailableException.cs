namespace Coordination.Ingestion;

/// <summary>Thrown when events could not be made durable because the ingestion's <see cref="IEventLog"/> failed (a
/// database that is down, for example): nothing of the call was accepted, and the same call may succeed later.</summary>
/// <remarks>The endpoint answers 503 with a <c>Retry-After</c> header; <see cref="Exception.InnerException"/> is the log's error.</remarks>
public sealed class IngestionUnavailableException : Exception
{
    /// <summary>Initializes a new instance.</summary>
    public IngestionUnavailableException()
    {
    }

    /// <summary>Initializes a new instance with a message.</summary>
    /// <param name="message">The message.</param>
    public IngestionUnavailableException(string message)
        : base(message)
    {
    }

    /// <summary>Initializes a new instance with a message and the exception that caused it.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The cause.</param>
    public IngestionUnavailableException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
