using Microsoft.Extensions.Logging;

namespace Coordination.Diagnostics;

/// <summary>Task queue log events (ids 400-499).</summary>
internal static partial class TaskLog
{
    [LoggerMessage(401, LogLevel.Warning, "Task queue '{Name}': task {TaskId} failed on attempt {Attempt}; it runs again in {Delay}.", EventName = "TaskRetrying")]
    public static partial void Retrying(ILogger logger, string name, long taskId, int attempt, TimeSpan delay, Exception exception);

    [LoggerMessage(402, LogLevel.Error, "Task queue '{Name}': task {TaskId} moved to error group '{ErrorGroup}' after attempt {Attempt}.", EventName = "TaskDeadLettered")]
    public static partial void DeadLettered(ILogger logger, string name, long taskId, string errorGroup, int attempt, Exception exception);

    [LoggerMessage(403, LogLevel.Warning, "Task queue '{Name}': the lease on task {TaskId} (version {LeaseVersion}) was lost; what its handler did is not committed and the task stays with its new holder.", EventName = "TaskLeaseLost")]
    public static partial void LeaseLost(ILogger logger, string name, long taskId, long leaseVersion, Exception exception);

    [LoggerMessage(404, LogLevel.Information, "Task queue '{Name}': task {TaskId} was cut short by shutdown and is claimable again at once.", EventName = "TaskReleased")]
    public static partial void Released(ILogger logger, string name, long taskId);

    [LoggerMessage(405, LogLevel.Error, "Task queue '{Name}': settling task {TaskId} failed; it runs again when its lease runs out.", EventName = "TaskSettleFailed")]
    public static partial void SettleFailed(ILogger logger, string name, long taskId, Exception exception);

    [LoggerMessage(406, LogLevel.Error, "Task queue '{Name}': claiming tasks failed; trying again in {Delay}.", EventName = "TaskClaimFailed")]
    public static partial void ClaimFailed(ILogger logger, string name, TimeSpan delay, Exception exception);

    [LoggerMessage(407, LogLevel.Warning, "Task queue '{Name}': the handler of task {TaskId} was still running after its token was cancelled; the worker no longer waits for it and ignores its outcome.", EventName = "TaskHandlerAbandoned")]
    public static partial void HandlerAbandoned(ILogger logger, string name, long taskId);

    [LoggerMessage(408, LogLevel.Error, "Task queue '{Name}': the worker loop failed; it resumes in {Delay}.", EventName = "TaskWorkerLoopFaulted")]
    public static partial void LoopFaulted(ILogger logger, string name, TimeSpan delay, Exception exception);

    [LoggerMessage(409, LogLevel.Debug, "Task queue '{Name}': task {TaskId} was already gone when its handler returned: the handler completed it in its own transaction (or an operator deleted it).", EventName = "TaskSettledByHandler")]
    public static partial void SettledByHandler(ILogger logger, string name, long taskId);
}
