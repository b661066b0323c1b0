using Coordination.Barriers;

namespace Coordination.Tests.Barriers;

/// <summary>One test per row of the state table (Open, Blocked, Draining) in the barrier research notes.</summary>
public sealed class KeyedBarrierTests
{
    [Fact]
    public void Open_EnterAndWait_PassEverything()
    {
        var barrier = new KeyedBarrier();

        Assert.Equal(new BarrierEntry(true, null), barrier.Enter("k", 1));
        Assert.Equal(new BarrierWait(false, null), barrier.Wait("k", 1));
        Assert.Null(barrier.Peek("k"));
        Assert.Equal(0, barrier.Size);
    }

    [Fact]
    public void Failed_AppliesAtOnce_AndBlocksTheKey()
    {
        var barrier = new KeyedBarrier();

        barrier.StateChanged("k", 5, JobState.Failed);

        Assert.Equal(5, barrier.Peek("k"));
        Assert.Equal(new BarrierEntry(true, 5), barrier.Enter("k", 5));
        Assert.Equal(new BarrierEntry(false, 5), barrier.Enter("k", 6));
        Assert.Equal(new BarrierWait(false, 5), barrier.Wait("k", 5));
        Assert.Equal(new BarrierWait(true, 5), barrier.Wait("k", 6));
        Assert.Equal(new BarrierEntry(true, null), barrier.Enter("other", 1));
    }

    [Fact]
    public void Blocked_SucceededOfTheFailedJob_OpensOnlyAfterSync()
    {
        var barrier = new KeyedBarrier();
        barrier.StateChanged("k", 5, JobState.Failed);

        barrier.StateChanged("k", 5, JobState.Succeeded);
        Assert.Equal(new BarrierEntry(false, 5), barrier.Enter("k", 6));

        Assert.Equal(1, barrier.Sync());
        Assert.Equal(new BarrierEntry(true, null), barrier.Enter("k", 6));
        Assert.Equal(0, barrier.Size);
    }

    [Fact]
    public void Blocked_FilteredOfTheFailedJob_CountsAsSucceeded()
    {
        var barrier = new KeyedBarrier();
        barrier.StateChanged("k", 5, JobState.Failed);

        barrier.StateChanged("k", 5, JobState.Filtered);
        barrier.Sync();

        Assert.Null(barrier.Peek("k"));
    }

    [Fact]
    public void Blocked_SucceededOrAbortedOfAnotherJob_IsIgnoredAtSync()
    {
        var barrier = new KeyedBarrier();
        barrier.StateChanged("k", 5, JobState.Failed);

        barrier.StateChanged("k", 7, JobState.Succeeded);
        barrier.StateChanged("k", 8, JobState.Aborted);

        Assert.Equal(2, barrier.Sync());
        Assert.Equal(5, barrier.Peek("k"));
        Assert.Equal(new BarrierEntry(false, 5), barrier.Enter("k", 7));
    }

    [Fact]
    public void Blocked_FailedAgainOrALaterFailure_KeepsTheFirstBlocker()
    {
        var barrier = new KeyedBarrier();
        barrier.StateChanged("k", 5, JobState.Failed);

        barrier.StateChanged("k", 5, JobState.Failed);
        barrier.StateChanged("k", 9, JobState.Failed);

        Assert.Equal(5, barrier.Peek("k"));
    }

    [Fact]
    public void Blocked_LowerIdAtEnterWaitOrFailed_IsAnIllegalSequenceNamingKeyIdsAndMetadata()
    {
        var barrier = new KeyedBarrier(new KeyedBarrierOptions { Metadata = "orders/worker-3" });
        barrier.StateChanged("k", 5, JobState.Failed);

        var enter = Assert.Throws<IllegalJobSequenceException>(() => barrier.Enter("k", 4));
        Assert.Contains("'k'", enter.Message);
        Assert.Contains("job 4", enter.Message);
        Assert.Contains("job 5", enter.Message);
        Assert.Contains("orders/worker-3", enter.Message);
        Assert.Throws<IllegalJobSequenceException>(() => barrier.Wait("k", 3));
        Assert.Throws<IllegalJobSequenceException>(() => barrier.StateChanged("k", 2, JobState.Failed));
        Assert.Equal(5, barrier.Peek("k"));
    }

    [Fact]
    public void IllegalSequence_WithThrowingOff_HoldsTheJobAndCountsIt()
    {
        var barrier = new KeyedBarrier(new KeyedBarrierOptions { ThrowOnIllegalSequence = false });
        barrier.StateChanged("k", 5, JobState.Failed);

        Assert.Equal(new BarrierEntry(false, 5), barrier.Enter("k", 4));
        Assert.Equal(new BarrierWait(true, 5), barrier.Wait("k", 4));
        barrier.StateChanged("k", 3, JobState.Failed);

        Assert.Equal(3, barrier.IllegalSequences);
        Assert.Equal(5, barrier.Peek("k"));
    }

    [Fact]
    public void Blocked_AbortOfTheFailedJob_StartsDrainingAtSync_OneJobAtATime()
    {
        var barrier = new KeyedBarrier();
        barrier.StateChanged("k", 5, JobState.Failed);
        barrier.StateChanged("k", 5, JobState.Aborted);
        Assert.Equal(new BarrierEntry(false, 5), barrier.Enter("k", 6));

        barrier.Sync();

        Assert.Null(barrier.Peek("k"));
        Assert.Equal(new BarrierEntry(true, null), barrier.Enter("k", 6));
        Assert.Equal(new BarrierEntry(true, null), barrier.Enter("k", 6));
        Assert.Equal(new BarrierEntry(false, null), barrier.Enter("k", 7));
        Assert.Equal(new BarrierWait(false, null), barrier.Wait("k", 7));
    }

    [Fact]
    public void Draining_RespectsTheConcurrencyLimit()
    {
        var barrier = new KeyedBarrier(new KeyedBarrierOptions { ConcurrencyLimit = 2 });
        Drain(barrier, "k", failedJob: 1);

        Assert.True(barrier.Enter("k", 2).Accepted);
        Assert.True(barrier.Enter("k", 3).Accepted);
        Assert.Equal(new BarrierEntry(false, null), barrier.Enter("k", 4));
    }

    [Fact]
    public void Draining_LeaveAndWaiting_FreeASlot()
    {
        var barrier = new KeyedBarrier();
        Drain(barrier, "k", failedJob: 1);
        Assert.True(barrier.Enter("k", 2).Accepted);

        barrier.Leave("k", 2);
        barrier.Leave("k", 2);
        Assert.True(barrier.Enter("k", 3).Accepted);

        barrier.StateChanged("k", 3, JobState.Waiting);
        Assert.False(barrier.Enter("k", 4).Accepted);
        barrier.Sync();
        Assert.True(barrier.Enter("k", 4).Accepted);
    }

    [Fact]
    public void Draining_SuccessOfAnyJob_OpensTheKey()
    {
        var barrier = new KeyedBarrier();
        Drain(barrier, "k", failedJob: 1);
        barrier.Enter("k", 2);

        barrier.StateChanged("k", 2, JobState.Succeeded);
        barrier.Sync();

        Assert.Equal(0, barrier.Size);
        Assert.True(barrier.Enter("k", 3).Accepted);
        Assert.True(barrier.Enter("k", 4).Accepted);
    }

    [Fact]
    public void Draining_AbortOfAJobThatNeverFailed_OpensTheKey()
    {
        var barrier = new KeyedBarrier();
        Drain(barrier, "k", failedJob: 1);
        barrier.Enter("k", 2);

        barrier.StateChanged("k", 2, JobState.Aborted);
        barrier.Sync();

        Assert.Equal(0, barrier.Size);
    }

    [Fact]
    public void Draining_FailureBlocksTheKeyAgainAndStopsDraining()
    {
        var barrier = new KeyedBarrier();
        Drain(barrier, "k", failedJob: 1);
        barrier.Enter("k", 2);

        barrier.StateChanged("k", 2, JobState.Failed);

        Assert.Equal(2, barrier.Peek("k"));
        Assert.Equal(new BarrierEntry(false, 2), barrier.Enter("k", 3));
    }

    [Fact]
    public void Open_AbortOfAJobThatNeverFailed_DoesNotStartDraining()
    {
        var barrier = new KeyedBarrier();

        barrier.StateChanged("k", 1, JobState.Aborted);
        barrier.Sync();

        Assert.Equal(0, barrier.Size);
        Assert.True(barrier.Enter("k", 2).Accepted);
        Assert.True(barrier.Enter("k", 3).Accepted);
    }

    [Fact]
    public void Sync_ReturnsHowManyCommandsItApplied_InArrivalOrder()
    {
        var barrier = new KeyedBarrier();
        barrier.StateChanged("a", 1, JobState.Failed);
        barrier.StateChanged("b", 1, JobState.Failed);

        // Arrival order matters: abort, then success of a drained job, leaves "a" open.
        barrier.StateChanged("a", 1, JobState.Aborted);
        barrier.StateChanged("b", 1, JobState.Succeeded);
        barrier.StateChanged("b", 2, JobState.Waiting);

        Assert.Equal(3, barrier.Sync());
        Assert.Equal(0, barrier.Sync());
        Assert.Null(barrier.Peek("b"));
        Assert.Null(barrier.Peek("a"));
    }

    [Fact]
    public void StatesWithoutAnEntry_ChangeNothing()
    {
        var barrier = new KeyedBarrier();

        barrier.StateChanged("k", 1, JobState.Succeeded);
        barrier.StateChanged("k", 1, JobState.Waiting);

        Assert.Equal(0, barrier.Sync());
        Assert.Equal(0, barrier.Size);
    }

    [Fact]
    public void UnsupportedState_ThrowsAndChangesNothing()
    {
        var barrier = new KeyedBarrier();
        barrier.StateChanged("k", 5, JobState.Failed);

        Assert.Throws<UnsupportedJobStateException>(() => barrier.StateChanged("k", 5, JobState.Executing));
        Assert.Throws<UnsupportedJobStateException>(() => barrier.StateChanged("k", 5, (JobState)42));

        Assert.Equal(0, barrier.Sync());
        Assert.Equal(5, barrier.Peek("k"));
    }

    [Fact]
    public void IdleDrainingKey_IsPurgedAfterAPassThatAdmittedNothing()
    {
        var barrier = new KeyedBarrier();
        Drain(barrier, "k", failedJob: 1);
        Assert.Equal(1, barrier.Size);

        // A pass that admits a job keeps the key draining.
        barrier.Enter("k", 2);
        barrier.StateChanged("k", 2, JobState.Waiting);
        barrier.Sync();
        Assert.Equal(1, barrier.Size);

        // A pass that admits nothing: nothing is left to drain.
        barrier.Sync();
        Assert.Equal(0, barrier.Size);
    }

    [Fact]
    public void ConcurrencyLimitZero_IsRejected()
    {
        var error = Assert.Throws<ArgumentException>(() => new KeyedBarrier(new KeyedBarrierOptions { ConcurrencyLimit = 0 }));

        Assert.Contains("ConcurrencyLimit", error.Message);
    }

    [Fact]
    public void ToString_DescribesEntriesAndMetadata()
    {
        var barrier = new KeyedBarrier(new KeyedBarrierOptions { Metadata = "worker-1" });
        barrier.StateChanged("b", 5, JobState.Failed);
        Drain(barrier, "a", failedJob: 1);
        barrier.Enter("a", 2);

        Assert.Equal("KeyedBarrier{metadata: worker-1, entries: [{key: a, failedJobId: none, draining: [2]}, {key: b, failedJobId: 5}]}", barrier.ToString());
    }

    private static void Drain(KeyedBarrier barrier, string key, long failedJob)
    {
        barrier.StateChanged(key, failedJob, JobState.Failed);
        barrier.StateChanged(key, failedJob, JobState.Aborted);
        barrier.Sync();
    }
}
