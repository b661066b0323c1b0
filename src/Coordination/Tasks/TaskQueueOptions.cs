namespace Coordination.Tasks;

/// <summary>Options of a task queue and its workers.</summary>
public sealed class TaskQueueOptions
{
    /// <summary>Gets or sets the group the queue's tasks live in.</summary>
    /// <value>The default value is <see langword="null"/>: the queue's name.</value>
    public string? Group { get; set; }

    /// <summary>Gets or sets the group failed tasks move to.</summary>
    /// <value>The default value is <see langword="null"/>: the group followed by <c>.errors</c>.</value>
    public string? ErrorGroup { get; set; }

    /// <summary>Gets or sets how long a claim lasts from each renewal.</summary>
    /// <value>The default value is 30 seconds. Allowed: 1 second to 1 hour.</value>
    public TimeSpan LeaseDuration { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Gets or sets how often a running task's lease is renewed.</summary>
    /// <value>The default value is <see langword="null"/>: a quarter of <see cref="LeaseDuration"/>. Allowed: less than <see cref="LeaseDuration"/>.</value>
    public TimeSpan? Heartbeat { get; set; }

    /// <summary>Gets or sets how many times a task runs before it moves to the error group.</summary>
    /// <value>The default value is 5. Allowed: 1 to 1000.</value>
    public int MaxAttempts { get; set; } = 5;

    /// <summary>Gets or sets the delay before the first retry; it doubles with every attempt (plus up to 20% jitter), up to <see cref="MaxRetryBackoff"/>.</summary>
    /// <value>The default value is 1 second. Allowed: 0 to 1 day.</value>
    public TimeSpan RetryBackoff { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Gets or sets the longest delay between retries.</summary>
    /// <value>The default value is 5 minutes. Allowed: at least <see cref="RetryBackoff"/>, at most 30 days.</value>
    public TimeSpan MaxRetryBackoff { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Gets or sets how often an idle worker looks for tasks that became ready (retries, expired leases, other processes' tasks).</summary>
    /// <remarks>With <see cref="Timeout.InfiniteTimeSpan"/> an idle worker never polls: it looks again only when woken (a task
    /// enqueued through <see cref="TaskQueue"/>, or made ready in an <see cref="InMemoryTaskStore"/>), so retries whose
    /// backoff ended and lapsed leases wait for the next wake-up. After a failed claim the worker tries again after
    /// <see cref="PollInterval"/>, at most 1 minute.</remarks>
    /// <value>The default value is 1 second. Allowed: greater than zero and at most 49.7 days (what a timer accepts),
    /// or <see cref="Timeout.InfiniteTimeSpan"/> for never.</value>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>The pause after a failed claim or a failed pass of the worker loop: <see cref="PollInterval"/>, at most a minute.</summary>
    internal TimeSpan FaultRetryDelay => PollInterval == Timeout.InfiniteTimeSpan || PollInterval > MaxFaultRetryDelay ? MaxFaultRetryDelay : PollInterval;

    private static TimeSpan MaxFaultRetryDelay => TimeSpan.FromMinutes(1);

    internal string GroupFor(string name) => Group ?? name;

    internal string ErrorGroupFor(string name) => ErrorGroup ?? $"{GroupFor(name)}.errors";

    internal TimeSpan EffectiveHeartbeat => Heartbeat ?? LeaseDuration / 4;

    internal IEnumerable<string> Validate(string name)
    {
        if (LeaseDuration < TimeSpan.FromSeconds(1) || LeaseDuration > TimeSpan.FromHours(1))
        {
            yield return $"Task queue '{name}': {nameof(LeaseDuration)} is {LeaseDuration}; allowed 00:00:01 to 01:00:00.";
        }

        if (EffectiveHeartbeat <= TimeSpan.Zero || EffectiveHeartbeat >= LeaseDuration)
        {
            yield return $"Task queue '{name}': {nameof(Heartbeat)} is {EffectiveHeartbeat}; allowed greater than zero and less than {nameof(LeaseDuration)} ({LeaseDuration}).";
        }

        if (MaxAttempts is < 1 or > 1000)
        {
            yield return $"Task queue '{name}': {nameof(MaxAttempts)} is {MaxAttempts}; allowed 1 to 1000.";
        }

        if (RetryBackoff < TimeSpan.Zero || RetryBackoff > TimeSpan.FromDays(1))
        {
            yield return $"Task queue '{name}': {nameof(RetryBackoff)} is {RetryBackoff}; allowed 0 to 1.00:00:00.";
        }

        if (MaxRetryBackoff < RetryBackoff || MaxRetryBackoff > TimeSpan.FromDays(30))
        {
            yield return $"Task queue '{name}': {nameof(MaxRetryBackoff)} is {MaxRetryBackoff}; allowed at least {nameof(RetryBackoff)} ({RetryBackoff}) and at most 30.00:00:00.";
        }

        if (PollInterval != Timeout.InfiniteTimeSpan && !OptionsValidation.IsTimerDelay(PollInterval))
        {
            yield return $"Task queue '{name}': {nameof(PollInterval)} is {PollInterval}; allowed greater than zero and at most {OptionsValidation.MaxTimerDelay} (what a timer accepts), or Timeout.InfiniteTimeSpan to never poll.";
        }

        if (string.IsNullOrWhiteSpace(GroupFor(name)) || ErrorGroupFor(name) == GroupFor(name))
        {
            yield return $"Task queue '{name}': {nameof(ErrorGroup)} must differ from {nameof(Group)} ('{GroupFor(name)}').";
        }
    }
}
