namespace Coordination.SingleFlight;

/// <summary>Options of a <see cref="SingleFlightGroup{TKey, TValue}"/>.</summary>
public sealed class SingleFlightGroupOptions
{
    /// <summary>The largest <see cref="MaxPromotions"/> accepted.</summary>
    internal const int MaxPromotionsLimit = 1_000;

    /// <summary>Gets or sets how many times one flight may elect a new leader after its leader dropped.</summary>
    /// <remarks>Past the cap the remaining followers fail with <see cref="SingleFlightLeaderDroppedException"/>;
    /// the cap stops a caller that starts and cancels requests in a loop from holding everyone else hostage.</remarks>
    /// <value>The default value is 3. Allowed: 0 to 1000.</value>
    public int MaxPromotions { get; set; } = 3;

    /// <summary>Gets or sets a hard limit on one execution of the work.</summary>
    /// <remarks>When it passes, the work's token is cancelled, every waiting caller gets a
    /// <see cref="TimeoutException"/>, and the key is free for a new execution at once.</remarks>
    /// <value>The default value is <see langword="null"/> (no limit). Allowed: greater than zero.</value>
    public TimeSpan? Timeout { get; set; }

    /// <summary>Gets or sets the most keys in flight at once.</summary>
    /// <remarks>Past it, calls for new keys run their work uncoalesced and are counted with the role
    /// <c>overflow</c>; keys already in flight are still joined.</remarks>
    /// <value>The default value is <see langword="null"/> (unbounded). Allowed: at least 1.</value>
    public int? MaxKeys { get; set; }

    /// <summary>Gets or sets which cancellation stops the shared work.</summary>
    /// <value>The default value is <see cref="SingleFlightWorkCancellation.LeaderCancels"/>.</value>
    public SingleFlightWorkCancellation WorkCancellation { get; set; } = SingleFlightWorkCancellation.LeaderCancels;

    /// <summary>Lists what is wrong with these options, each naming the primitive, the option, the value and the allowed range.</summary>
    internal IEnumerable<string> Validate(string name)
    {
        if (MaxPromotions is < 0 or > MaxPromotionsLimit)
        {
            yield return $"Single-flight '{name}': {nameof(MaxPromotions)} is {MaxPromotions}; allowed 0 to {MaxPromotionsLimit}.";
        }

        if (Timeout is { } timeout && (timeout <= TimeSpan.Zero || timeout.TotalMilliseconds > uint.MaxValue - 1))
        {
            yield return $"Single-flight '{name}': {nameof(Timeout)} is {timeout}; allowed greater than zero and at most {TimeSpan.FromMilliseconds(uint.MaxValue - 1)}, or null for none.";
        }

        if (MaxKeys is < 1)
        {
            yield return $"Single-flight '{name}': {nameof(MaxKeys)} is {MaxKeys}; allowed at least 1, or null for unbounded.";
        }

        if (!Enum.IsDefined(WorkCancellation))
        {
            yield return $"Single-flight '{name}': {nameof(WorkCancellation)} is {WorkCancellation}; allowed {string.Join(", ", Enum.GetNames<SingleFlightWorkCancellation>())}.";
        }
    }

    internal SingleFlightGroupOptions Clone() => (SingleFlightGroupOptions)MemberwiseClone();
}
