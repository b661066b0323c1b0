using Coordination.Diagnostics;

namespace Coordination.SingleFlight;

/// <summary>Where a waiting caller stands in its flight; changed only under the flight's lock.</summary>
internal enum FlightCallerStatus
{
    Waiting,
    Promoted,
    Running,
    Left,
}

/// <summary>
/// A caller that waits through executions of its flight: it can stop waiting (its token), lead, or be promoted and run
/// its own work when its leader drops.
/// </summary>
internal sealed class FlightCaller<TKey, TValue>(
    Flight<TKey, TValue> flight,
    object? state,
    FlightWork<TKey, TValue> work,
    bool allowRetry,
    string role,
    CancellationToken cancellationToken)
    where TKey : notnull
{
    /// <summary>The role the caller's requests are counted under: it changes once, when the caller is promoted.</summary>
    private string _role = role;

    public Flight<TKey, TValue> Flight { get; } = flight;

    public bool AllowRetry { get; } = allowRetry;

    public CancellationToken CancellationToken { get; } = cancellationToken;

    /// <summary>Guarded by the flight's lock.</summary>
    public FlightCallerStatus Status { get; set; }

    private SingleFlightGroup<TKey, TValue> Group => Flight.Group;

    /// <summary>Waits for <paramref name="execution"/> and whatever executions follow it after drops, until a final outcome.</summary>
    public async Task<TValue> WaitAsync(FlightExecution<TKey, TValue> execution)
    {
        while (true)
        {
            FlightOutcome<TKey, TValue> outcome;
            try
            {
                outcome = await execution.Completion!.WaitAsync(CancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (CancellationToken.IsCancellationRequested)
            {
                Leave();
                Record(SingleFlightMetrics.Canceled);
                throw;
            }

            var isLeader = ReferenceEquals(execution.Leader, this);
            switch (outcome.Kind)
            {
                case FlightOutcomeKind.Success:
                    Record(SingleFlightMetrics.Success);
                    return outcome.Value!;

                case FlightOutcomeKind.Failed:
                    Record(SingleFlightMetrics.Failure, outcome.Error!.SourceException);
                    if (isLeader)
                    {
                        outcome.Error.Throw();
                    }

                    throw SingleFlightErrors.LeaderFailed(Group.Name, outcome.Error.SourceException);

                case FlightOutcomeKind.TimedOut:
                    Record(SingleFlightMetrics.Timeout);
                    throw SingleFlightErrors.TimedOut(Group.Name, Group.Timeout);

                default:
                    if (isLeader)
                    {
                        Leave();
                        Record(SingleFlightMetrics.Canceled);
                        outcome.Error?.Throw();
                        throw new OperationCanceledException(CancellationToken);
                    }

                    var next = outcome.Next;
                    if (next is null || !AllowRetry)
                    {
                        Leave();
                        Record(SingleFlightMetrics.Dropped);
                        throw SingleFlightErrors.LeaderDropped(Group.Name);
                    }

                    if (ReferenceEquals(next.Leader, this))
                    {
                        _role = SingleFlightMetrics.Promoted;
                        if (CancellationToken.IsCancellationRequested)
                        {
                            Leave();
                            Record(SingleFlightMetrics.Canceled);
                            throw new OperationCanceledException(CancellationToken);
                        }

                        Flight.Run(this);
                        _ = next.Start(state, work, returnResult: false, CancellationToken);
                    }

                    execution = next;
                    break;
            }
        }
    }

    /// <summary>
    /// For a leader whose work succeeded at once: whether its execution's outcome is that success, so the work's own
    /// task is its result and it need not wait (no wait, no task of its own).
    /// </summary>
    public bool TryCompleteAlone(FlightExecution<TKey, TValue> execution)
    {
        if (!execution.Completion!.TryGetResult(out var outcome) || outcome.Kind != FlightOutcomeKind.Success)
        {
            return false;
        }

        Record(SingleFlightMetrics.Success);
        return true;
    }

    /// <summary>Takes this caller out of its flight: it was cancelled, or it stops waiting after a drop.</summary>
    private void Leave()
    {
        if (Flight.Leave(this, out var outcome) is { } ended)
        {
            ended.Publish(outcome);
            if (Group.LastCallerCancels)
            {
                ended.CancelWork();
            }
        }
    }

    private void Record(string result, Exception? error = null) => Group.Metrics?.Request(Group.Name, _role, result, error);
}
