using Microsoft.Extensions.Logging;

namespace Coordination.Diagnostics;

/// <summary>Single-flight log events (ids 100-199).</summary>
internal static partial class SingleFlightLog
{
    [LoggerMessage(101, LogLevel.Debug, "Single-flight '{Name}': the leader dropped; a follower was promoted (promotion {Promotion}).", EventName = "LeaderPromoted")]
    public static partial void LeaderPromoted(ILogger logger, string name, int promotion);

    [LoggerMessage(102, LogLevel.Warning, "Single-flight '{Name}': the leader dropped and no follower may take over (promotions {Promotions}); the followers fail.", EventName = "LeaderDropped")]
    public static partial void LeaderDropped(ILogger logger, string name, int promotions);

    [LoggerMessage(103, LogLevel.Warning, "Single-flight '{Name}': an execution passed its timeout of {Timeout}; its callers get a TimeoutException and the key is free.", EventName = "ExecutionTimedOut")]
    public static partial void ExecutionTimedOut(ILogger logger, string name, TimeSpan timeout);

    [LoggerMessage(104, LogLevel.Warning, "Single-flight '{Name}': {MaxKeys} keys are in flight; new keys run uncoalesced.", EventName = "MaxKeysReached")]
    public static partial void MaxKeysReached(ILogger logger, string name, int maxKeys);

    [LoggerMessage(105, LogLevel.Debug, "Single-flight '{Name}': the response of {Path} is not shared ({Reason}); its followers run the endpoint themselves.", EventName = "ResponseNotShared")]
    public static partial void ResponseNotShared(ILogger logger, string name, string path, string reason);

    [LoggerMessage(106, LogLevel.Debug, "Single-flight '{Name}': {Path} runs uncoalesced ({Reason}).", EventName = "RequestBypassed")]
    public static partial void RequestBypassed(ILogger logger, string name, string path, string reason);

    [LoggerMessage(107, LogLevel.Debug, "Single-flight '{Name}': the response of {Path} is not cached ({Reason}).", EventName = "ResponseNotCached")]
    public static partial void ResponseNotCached(ILogger logger, string name, string path, string reason);
}
