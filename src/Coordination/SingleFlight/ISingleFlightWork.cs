namespace Coordination.SingleFlight;

/// <summary>
/// Work that is its own state and sees the execution it runs as (the HTTP leader uses it to close its flight when no
/// follower joined); passed to the group without a wrapper.
/// </summary>
/// <remarks>
/// Its leader waits through no caller of its own (it gets the work's task, as an uncancellable leader does), so a
/// leading call costs no waiter, no completion source and no hop to the thread pool; the work reports instead that
/// its caller left, with <see cref="FlightExecution{TKey, TValue}.LeaderLeft"/>. A group with a <c>Timeout</c> still
/// gives it a waiter, which enforces the timeout.
/// </remarks>
internal interface ISingleFlightWork<TKey, TValue>
    where TKey : notnull
{
    /// <summary>Runs the work as <paramref name="execution"/>, or uncoalesced when it is <see langword="null"/> (past <c>MaxKeys</c>).</summary>
    /// <remarks>Uncoalesced, <paramref name="cancellationToken"/> is the caller's own. As an execution, the work's token is
    /// <see cref="FlightExecution{TKey, TValue}.WorkToken"/>, to be read when it is needed: under
    /// <c>LastCallerCancels</c> the parameter is none, so that a run that never looks costs no token source.</remarks>
    Task<TValue> RunAsync(FlightExecution<TKey, TValue>? execution, CancellationToken cancellationToken);
}
