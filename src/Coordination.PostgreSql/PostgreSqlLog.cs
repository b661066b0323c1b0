using Microsoft.Extensions.Logging;

namespace Coordination.PostgreSql;

/// <summary>PostgreSQL backend log events: 450-469 (task store), 470-479 (schema).</summary>
internal static partial class PostgreSqlLog
{
    [LoggerMessage(450, LogLevel.Warning, "PostgreSQL task wake-ups on channel '{Channel}' failed; workers fall back to polling until the listener reconnects in {Delay}.", EventName = "TaskListenerFailed")]
    public static partial void ListenerFailed(ILogger logger, string channel, TimeSpan delay, Exception exception);

    [LoggerMessage(451, LogLevel.Information, "PostgreSQL task wake-ups: listening on channel '{Channel}'.", EventName = "TaskListenerConnected")]
    public static partial void ListenerConnected(ILogger logger, string channel);

    [LoggerMessage(452, LogLevel.Warning, "PostgreSQL task wake-ups: this process's test notification on channel '{Channel}' did not arrive within {Timeout}. Workers still find tasks by polling, but later than they could: is a transaction-pooling proxy (PgBouncer in transaction mode) between the app and the server?", EventName = "TaskNotificationsNotDelivered")]
    public static partial void NotificationsNotDelivered(ILogger logger, string channel, TimeSpan timeout);

    [LoggerMessage(470, LogLevel.Information, "PostgreSQL schema '{Schema}' is at version {Version}.", EventName = "SchemaMigrated")]
    public static partial void SchemaMigrated(ILogger logger, string schema, int version);
}
