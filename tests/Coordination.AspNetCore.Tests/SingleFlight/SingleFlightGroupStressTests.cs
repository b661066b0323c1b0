using Coordination.SingleFlight;

namespace Coordination.Tests.SingleFlight;

/// <summary>
/// Seeded random scripts of cancellations, failures, abandoned work and non-retrying callers on one key, checking the
/// invariants that must hold whatever the interleaving: nobody hangs, nothing leaks, every value comes from a work that
/// really returned it, and only a cancelled caller (or one whose own work was cancelled) sees a cancellation.
/// </summary>
public sealed class SingleFlightGroupStressTests
{
    public static TheoryData<int, SingleFlightWorkCancellation> Seeds()
    {
        var data = new TheoryData<int, SingleFlightWorkCancellation>();
        foreach (var mode in Enum.GetValues<SingleFlightWorkCancellation>())
        {
            for (var seed = 1; seed <= 5; seed++)
            {
                data.Add(seed, mode);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Seeds))]
    public async Task RandomScripts_KeepTheInvariants(int seed, SingleFlightWorkCancellation mode)
    {
        var random = new Random(seed);
        var group = new SingleFlightGroup<string, int>(new SingleFlightGroupOptions { WorkCancellation = mode, MaxPromotions = 2 });

        for (var round = 0; round < 40; round++)
        {
            var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var callers = Enumerable.Range(0, random.Next(1, 40)).Select(id => new ScriptedCaller(id, random)).ToList();
            var tasks = callers.Select(c => c.Start(group, release.Task)).ToList();

            foreach (var caller in callers.Where(c => c.CancelBeforeRelease).OrderBy(_ => random.Next()))
            {
                caller.Cancel();
            }

            release.SetResult();
            foreach (var caller in callers.Where(c => c.CancelAfterRelease))
            {
                caller.Cancel();
            }

            await Task.WhenAll(tasks.Select(t => t.ContinueWith(_ => { }, TaskScheduler.Default))).DefaultTimeout();

            var succeededWorks = callers.Where(c => c.WorkReturned).Select(c => c.Id).ToHashSet();
            foreach (var (caller, task) in callers.Zip(tasks))
            {
                if (task.IsCompletedSuccessfully)
                {
                    Assert.Contains(await task, succeededWorks);
                }
                else if (task.Exception?.InnerException is OperationCanceledException || task.IsCanceled)
                {
                    Assert.True(caller.Cancelled || caller.WorkThrewCancellation, $"round {round}: caller {caller.Id} saw a cancellation it did not cause");
                }
                else
                {
                    var error = task.Exception!.InnerException!;
                    Assert.True(
                        error is SingleFlightLeaderFailedException or SingleFlightLeaderDroppedException || (caller.WorkRan && error is InvalidOperationException),
                        $"round {round}: caller {caller.Id} got {error.GetType().Name}");
                }
            }

            Assert.True(SpinWait.SpinUntil(() => group.Count == 0 && group.WaitingCallers == 0, TestTimeouts.Default), $"round {round}: the table is not empty");
            foreach (var caller in callers)
            {
                caller.Dispose();
            }
        }
    }

    private sealed class ScriptedCaller(int id, Random random) : IDisposable
    {
        private readonly CancellationTokenSource? _cancellation = random.Next(3) == 0 ? null : new CancellationTokenSource();
        private readonly int _script = random.Next(10);
        private readonly bool _retry = random.Next(4) != 0;
        private readonly bool _observesToken = random.Next(2) == 0;

        public int Id { get; } = id;

        public bool CancelBeforeRelease { get; } = random.Next(4) == 0;

        public bool CancelAfterRelease { get; } = random.Next(6) == 0;

        public bool Cancelled { get; private set; }

        public bool WorkRan { get; private set; }

        public bool WorkReturned { get; private set; }

        public bool WorkThrewCancellation { get; private set; }

        public Task<int> Start(SingleFlightGroup<string, int> group, Task release)
        {
            var token = _cancellation?.Token ?? CancellationToken.None;
            return _retry ? group.RunAsync("k", Work, token) : group.RunWithoutRetryAsync("k", Work, token);

            async Task<int> Work(CancellationToken workToken)
            {
                WorkRan = true;
                await (_observesToken ? release.WaitAsync(workToken) : release);
                switch (_script)
                {
                    case 0:
                        throw new InvalidOperationException("scripted failure");
                    case 1:
                        WorkThrewCancellation = true;
                        throw new OperationCanceledException("scripted abandon");
                    default:
                        WorkReturned = true;
                        return Id;
                }
            }
        }

        public void Cancel()
        {
            if (_cancellation is not null)
            {
                Cancelled = true;
                _cancellation.Cancel();
            }
        }

        public void Dispose() => _cancellation?.Dispose();
    }
}
