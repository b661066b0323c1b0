namespace Coordination.Ingestion;

/// <summary>The options the dispatcher and its workers use, taken from <see cref="OrderedIngestionOptions{TEvent}"/> once.</summary>
internal sealed record IngestionSettings(
    int MaxAttempts,
    TimeSpan RetryBackoff,
    TimeSpan MaxRetryBackoff,
    bool ParkOnTerminalFailure,
    int Workers,
    int BatchSize,
    TimeSpan PollInterval,
    TimeSpan SucceededRetention)
{
    /// <summary>How often the dispatcher removes succeeded events older than <see cref="SucceededRetention"/>.</summary>
    public TimeSpan SweepInterval => SucceededRetention < TimeSpan.FromMinutes(1) ? SucceededRetention : TimeSpan.FromMinutes(1);

    /// <summary>The most runs (keys) in the workers at once, running or queued: enough to keep every worker busy while
    /// the dispatcher reads, few enough that the keys it holds stay a short list in its query.</summary>
    public int MaxRunsInFlight => 2 * Workers;

    /// <summary>The delay before the next attempt: <see cref="RetryBackoff"/> doubled per attempt, capped.</summary>
    public TimeSpan Backoff(int attempt)
    {
        var factor = Math.Pow(2, Math.Min(attempt - 1, 30));
        return TimeSpan.FromTicks((long)Math.Min(RetryBackoff.Ticks * factor, MaxRetryBackoff.Ticks));
    }
}
