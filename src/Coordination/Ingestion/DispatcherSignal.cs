namespace Coordination.Ingestion;

/// <summary>Wakes the dispatcher when there may be work: an append, a finished run, a released key, a stop.</summary>
/// <remarks>Waiting never throws: the wait ends on a signal, after the poll interval, or on cancellation.</remarks>
internal sealed class DispatcherSignal(TimeProvider timeProvider)
{
    private TaskCompletionSource _signal = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public void Wake() => Volatile.Read(ref _signal).TrySetResult();

    /// <summary>Waits for a signal given since the last wait returned, or for <paramref name="timeout"/>.</summary>
    public async Task WaitAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        var signal = Volatile.Read(ref _signal);
        if (!signal.Task.IsCompleted)
        {
            using var expired = new CancellationTokenSource(timeout, timeProvider);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(expired.Token, cancellationToken);
            await signal.Task.WaitAsync(linked.Token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }

        // Reset before the caller's next pass: a signal given during that pass ends the next wait at once.
        Interlocked.CompareExchange(ref _signal, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously), signal);
    }
}
