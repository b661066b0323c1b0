namespace Coordination.Ingestion;

/// <summary>Thrown when events are appended to an ordered ingestion whose intake is closed (the host is stopping).</summary>
/// <remarks>Nothing of the call was appended. It derives from <see cref="InvalidOperationException"/>, which
/// <see cref="OrderedIngestion{TEvent}.AppendAsync(IReadOnlyList{TEvent}, CancellationToken)"/> threw before.</remarks>
public sealed class IngestionStoppedException : InvalidOperationException
{
    /// <summary>Initializes a new instance.</summary>
    public IngestionStoppedException()
    {
    }

    /// <summary>Initializes a new instance with a message.</summary>
    /// <param name="message">The message.</param>
    public IngestionStoppedException(string message)
        : base(message)
    {
    }

    /// <summary>Initializes a new instance with a message and the exception that caused it.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The cause.</param>
    public IngestionStoppedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
