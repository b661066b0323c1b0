using Microsoft.Extensions.Logging;

namespace Coordination.Diagnostics;

/// <summary>Keyed barrier and ordered ingestion log events (ids 200-299).</summary>
internal static partial class IngestionLog
{
    [LoggerMessage(201, LogLevel.Warning, "Ordered ingestion '{Name}': event {EventId} failed (attempt {Attempt}); its key is held until it succeeds or is dead-lettered.", EventName = "EventFailed")]
    public static partial void EventFailed(ILogger logger, string name, long eventId, int attempt, Exception exception);

    [LoggerMessage(202, LogLevel.Error, "Ordered ingestion '{Name}': event {EventId} was dead-lettered after {Attempts} attempts.", EventName = "EventDeadLettered")]
    public static partial void EventDeadLettered(ILogger logger, string name, long eventId, int attempts, Exception exception);

    [LoggerMessage(203, LogLevel.Warning, "Ordered ingestion '{Name}': key '{Key}' parked after event {EventId} was dead-lettered; release it with POST .../keys/{{key}}/release.", EventName = "KeyParked")]
    public static partial void KeyParked(ILogger logger, string name, string key, long eventId);

    [LoggerMessage(204, LogLevel.Error, "Ordered ingestion '{Name}': the dispatcher or its log failed; it retries after a backoff.", EventName = "DispatcherFailed")]
    public static partial void DispatcherFailed(ILogger logger, string name, Exception exception);

    [LoggerMessage(205, LogLevel.Error, "Ordered ingestion '{Name}' stopped with {Unfinished} accepted events unfinished ({ParkedKeys} keys parked), each listed by id in the entries before (event 206); they were not dead-lettered: an in-memory log loses them now, a durable log keeps them pending.", EventName = "StoppedUnfinished")]
    public static partial void StoppedUnfinished(ILogger logger, string name, int unfinished, int parkedKeys);

    [LoggerMessage(206, LogLevel.Error, "Ordered ingestion '{Name}' stopped before these events finished: {Ids}.", EventName = "UnfinishedIds")]
    public static partial void UnfinishedIds(ILogger logger, string name, string ids);

    [LoggerMessage(215, LogLevel.Warning, "Ordered ingestion '{Name}': another process holds the dispatch lease of its log now; this process accepts events and leaves their handling to that one.", EventName = "DispatchLeaseLost")]
    public static partial void DispatchLeaseLost(ILogger logger, string name);

    [LoggerMessage(216, LogLevel.Error, "Ordered ingestion '{Name}': its log failed to append {Count} events; the request gets 503 and nothing was accepted.", EventName = "AppendFailed")]
    public static partial void AppendFailed(ILogger logger, string name, int count, Exception exception);
}
