using Coordination.SingleFlight;

namespace Coordination.Tests.SingleFlight;

/// <summary>A flight's own transitions, driven through its group: closing a flight nobody joined.</summary>
public sealed class FlightTests
{
    [Fact]
    public async Task TryCloseUnshared_NoFollowerJoined_FreesTheKey_SoTheNextCallRunsItsOwnWork()
    {
        var group = new SingleFlightGroup<string, int>();
        var work = new ClosingWork(result: 1);

        var lone = group.RunAsync("k", work, CancellationToken.None);
        Assert.True(await work.Closed.Task.DefaultTimeout());
        Assert.Equal(0, group.Count);

        Assert.Equal(2, await group.RunAsync("k", _ => Task.FromResult(2)).DefaultTimeout());
        work.Release();
        Assert.Equal(1, await lone.DefaultTimeout());
    }

    [Fact]
    public async Task TryCloseUnshared_AFollowerJoined_KeepsTheFlightForItsFollowers()
    {
        var group = new SingleFlightGroup<string, int>();
        var work = new ClosingWork(result: 1, waitToDecide: true);

        var leader = group.RunAsync("k", work, CancellationToken.None);
        var follower = group.RunAsync("k", _ => Task.FromResult(2), CancellationToken.None);
        work.Decide();
        Assert.False(await work.Closed.Task.DefaultTimeout());
        Assert.Equal(1, group.Count);

        work.Release();
        Assert.Equal(1, await leader.DefaultTimeout());
        Assert.Equal(1, await follower.DefaultTimeout());
        Assert.Equal(0, group.Count);
    }

    /// <summary>Work that asks to close its flight (at once, or when told), then completes when released.</summary>
    private sealed class ClosingWork(int result, bool waitToDecide = false) : ISingleFlightWork<string, int>
    {
        private readonly TaskCompletionSource _decide = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource<int> _release = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource<bool> Closed { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Decide() => _decide.TrySetResult();

        public void Release() => _release.TrySetResult(result);

        public async Task<int> RunAsync(FlightExecution<string, int>? execution, CancellationToken cancellationToken)
        {
            if (waitToDecide)
            {
                await _decide.Task;
            }

            Closed.TrySetResult(execution!.TryCloseUnshared());
            return await _release.Task;
        }
    }
}
