namespace Coordination.SingleFlight;

/// <summary>The exceptions single-flight followers get, each naming the group.</summary>
internal static class SingleFlightErrors
{
    public static SingleFlightLeaderFailedException LeaderFailed(string name, Exception leaderError) =>
        new($"The shared execution of single-flight '{name}' failed: {leaderError.Message}", leaderError);

    public static TimeoutException TimedOut(string name, TimeSpan? timeout) =>
        new($"The shared execution of single-flight '{name}' passed its timeout of {timeout}.");

    public static SingleFlightLeaderDroppedException LeaderDropped(string name) =>
        new($"The leader of single-flight '{name}' was cancelled and no new leader was elected for this caller.");
}
