using Coordination.Barriers;

namespace Coordination.Tests.Barriers;

/// <summary>
/// A seeded, single-threaded simulation of the router around one key: a dispatcher pass (Sync, then Enter in id order,
/// where a held job ends the key's pass), a worker with random delays (Wait, then the job's scripted outcome) and a
/// commit loop that reports persisted states with random lag.
/// </summary>
public sealed class KeyedBarrierSimulationTests
{
    [Theory]
    [InlineData(1, 1)]
    [InlineData(2, 1)]
    [InlineData(3, 2)]
    [InlineData(4, 3)]
    [InlineData(5, 1)]
    public void RandomScripts_KeepEveryKeyInOrder_AndEndTerminal(int seed, int drainLimit)
    {
        const int Jobs = 300;
        var random = new Random(seed);
        var barrier = new KeyedBarrier(new KeyedBarrierOptions { ConcurrencyLimit = drainLimit });
        var jobs = Enumerable.Range(1, Jobs).Select(id => new SimulatedJob(id, random.Next(10) < 3 ? random.Next(1, 4) : 0, random.Next(10) == 0)).ToList();
        var workerQueue = new Queue<SimulatedJob>();
        var commits = new Queue<(SimulatedJob Job, JobState State)>();
        var committedTerminal = new List<long>();
        var tick = 0;

        while (jobs.Any(j => !j.Terminal) || commits.Count > 0)
        {
            Assert.True(++tick < 20_000, $"seed {seed}: not finished after {tick} ticks; {barrier}");

            // Dispatcher pass.
            barrier.Sync();
            foreach (var job in jobs.Where(j => !j.Terminal && !j.InPipeline))
            {
                if (job.RetryAt > tick)
                {
                    break; // backing off: the key is held for the rest of the pass
                }

                var entry = barrier.Enter("k", job.Id);
                Assert.False(entry.Accepted && entry.PreviousFailedJobId is { } failed && failed != job.Id, $"seed {seed}: job {job.Id} accepted behind failed job {entry.PreviousFailedJobId}");
                if (!entry.Accepted)
                {
                    break; // a held job blocks its key for the rest of the pass
                }

                job.InPipeline = true;
                workerQueue.Enqueue(job);
            }

            // Worker: a random number of jobs this tick, in order.
            for (var n = random.Next(0, 3); n > 0 && workerQueue.Count > 0; n--)
            {
                var job = workerQueue.Dequeue();
                if (barrier.Wait("k", job.Id).MustWait)
                {
                    commits.Enqueue((job, JobState.Waiting));
                }
                else if (job.FailuresLeft > 0)
                {
                    job.FailuresLeft--;
                    job.Attempts++;
                    barrier.StateChanged("k", job.Id, JobState.Failed);
                    job.RetryAt = tick + random.Next(1, 4);
                    job.InPipeline = false;
                }
                else
                {
                    Assert.False(job.Terminal, $"seed {seed}: job {job.Id} ran after it ended");
                    commits.Enqueue((job, job.AbortsInTheEnd ? JobState.Aborted : JobState.Succeeded));
                }
            }

            // Commit loop: persist, then tell the barrier, with random lag.
            for (var n = random.Next(0, 4); n > 0 && commits.Count > 0; n--)
            {
                var (job, state) = commits.Dequeue();
                job.InPipeline = false;
                if (state is JobState.Succeeded or JobState.Aborted)
                {
                    job.Terminal = true;
                    committedTerminal.Add(job.Id);
                }

                barrier.StateChanged("k", job.Id, state);
            }
        }

        barrier.Sync();
        barrier.Sync();
        Assert.Equal(Enumerable.Range(1, Jobs).Select(i => (long)i), committedTerminal);
        Assert.Equal(0, barrier.Size);
        Assert.Contains(jobs, j => j.Attempts > 0);
        Assert.Contains(jobs, j => j.AbortsInTheEnd);
    }

    private sealed class SimulatedJob(long id, int failures, bool abortsInTheEnd)
    {
        public long Id { get; } = id;

        public bool AbortsInTheEnd { get; } = abortsInTheEnd;

        public int FailuresLeft { get; set; } = failures;

        public int Attempts { get; set; }

        public long RetryAt { get; set; }

        public bool InPipeline { get; set; }

        public bool Terminal { get; set; }
    }
}
