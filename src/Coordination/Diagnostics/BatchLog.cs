using Microsoft.Extensions.Logging;

namespace Coordination.Diagnostics;

/// <summary>Batch processor log events (ids 300-399).</summary>
internal static partial class BatchLog
{
    [LoggerMessage(301, LogLevel.Warning, "Batch processor '{Name}': a batch of {Operations} operations was aborted; none of its changes were saved.", EventName = "BatchAborted")]
    public static partial void BatchAborted(ILogger logger, string name, int operations, Exception cause);

    [LoggerMessage(302, LogLevel.Debug, "Batch processor '{Name}': an operation threw; only its caller fails and the batch goes on.", EventName = "OperationFailed")]
    public static partial void OperationFailed(ILogger logger, string name, Exception exception);
}
