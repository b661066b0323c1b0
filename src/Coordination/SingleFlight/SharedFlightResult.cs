using System.Diagnostics;
using Coordination.Diagnostics;

namespace Coordination.SingleFlight;

/// <summary>
/// The final result of a flight for the followers that await one shared task (they can neither cancel nor refuse
/// promotion, so they need nothing of their own); created by the first of them.
/// </summary>
/// <remarks>They resume together on one thread-pool thread (the shared task runs its continuations inline, as a plain
/// task does), so neither the work's thread nor the leader waits behind them.</remarks>
internal sealed class SharedFlightResult<TKey, TValue>(SingleFlightGroup<TKey, TValue> group) : IThreadPoolWorkItem
    where TKey : notnull
{
    private readonly TaskCompletionSource<TValue> _result = new();
    private FlightOutcome<TKey, TValue> _final;

    public Task<TValue> Task => _result.Task;

    /// <summary>The followers on the shared task; guarded by the flight's lock.</summary>
    public int Followers { get; set; }

    /// <summary>How many of them were promoted (their work ran on their behalf); guarded by the flight's lock.</summary>
    public int PromotedFollowers { get; set; }

    /// <summary>Hands the flight's final outcome to the followers, off the publishing thread.</summary>
    public void Publish(FlightOutcome<TKey, TValue> outcome)
    {
        Debug.Assert(outcome.Next is null, "Only a final outcome reaches the shared task.");
        _final = outcome;
        ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
    }

    void IThreadPoolWorkItem.Execute()
    {
        var outcome = _final;
        var (result, error) = outcome.Kind switch
        {
            FlightOutcomeKind.Success => (SingleFlightMetrics.Success, null),
            FlightOutcomeKind.Failed => (SingleFlightMetrics.Failure, outcome.Error!.SourceException),
            FlightOutcomeKind.TimedOut => (SingleFlightMetrics.Timeout, (Exception?)null),
            _ => (SingleFlightMetrics.Dropped, null),
        };
        group.Metrics?.Request(group.Name, SingleFlightMetrics.Follower, result, error, Followers - PromotedFollowers);
        group.Metrics?.Request(group.Name, SingleFlightMetrics.Promoted, result, error, PromotedFollowers);

        switch (outcome.Kind)
        {
            case FlightOutcomeKind.Success:
                _result.TrySetResult(outcome.Value!);
                break;
            case FlightOutcomeKind.Failed:
                _result.TrySetException(SingleFlightErrors.LeaderFailed(group.Name, outcome.Error!.SourceException));
                break;
            case FlightOutcomeKind.TimedOut:
                _result.TrySetException(SingleFlightErrors.TimedOut(group.Name, group.Timeout));
                break;
            default:
                _result.TrySetException(SingleFlightErrors.LeaderDropped(group.Name));
                break;
        }
    }
}
