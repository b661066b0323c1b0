using Microsoft.Extensions.Logging;

namespace Coordination.Diagnostics;

/// <summary>Batch processor log events (ids 300-399).</summary>
internal static partial class BatchLog
{
    [LoggerMessage(301, LogLevel.Warning, "Batch processor '{Name}': a batch of {Operations} operations was aborted; none of its changes were saved.", EventName = "BatchAborted")]
    public static partial void BatchAborted(ILogger logger, string name, int operations, Exception cause);

    [LoggerMessage(302, LogLevel.Debug, "Batch processor '{Name}': an operation threw; only its caller fails and the batch goes on.", EventName = "OperationFailed")]
    public static partial void OperationFailed(ILogger logger, string name, Exception exception);

    [LoggerMessage(303, LogLevel.Warning, "Batch processor '{Name}': a load or save did not end within the batch's limit (MaxDuration {MaxDuration}, or a stop with a cancelled token) although its token was cancelled; the batch gave up on it, its outcome is unknown, and its DI scope is disposed when it ends.", EventName = "StoreCallAbandoned")]
    public static partial void StoreCallAbandoned(ILogger logger, string name, TimeSpan maxDuration);

    [LoggerMessage(304, LogLevel.Warning, "Batch processor '{Name}': disposing a batch's DI scope did not end within the batch's limit (MaxDuration {MaxDuration}, or a stop with a cancelled token); the batch no longer waits for it.", EventName = "ScopeDisposalAbandoned")]
    public static partial void ScopeDisposalAbandoned(ILogger logger, string name, TimeSpan maxDuration);

    [LoggerMessage(305, LogLevel.Error, "Batch processor '{Name}': disposing a batch's DI scope failed; the batch's outcome stands.", EventName = "ScopeDisposalFailed")]
    public static partial void ScopeDisposalFailed(ILogger logger, string name, Exception exception);
}
