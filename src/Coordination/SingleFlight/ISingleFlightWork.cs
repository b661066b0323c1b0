namespace Coordination.SingleFlight;

/// <summary>
/// Work that is its own state and sees the execution it runs as (the HTTP leader uses it to close its flight when no
/// follower joined); passed to the group without a wrapper.
/// </summary>
internal interface ISingleFlightWork<TKey, TValue>
    where TKey : notnull
{
    /// <summary>Runs the work as <paramref name="execution"/>, or uncoalesced when it is <see langword="null"/> (past <c>MaxKeys</c>).</summary>
    Task<TValue> RunAsync(FlightExecution<TKey, TValue>? execution, CancellationToken cancellationToken);
}
