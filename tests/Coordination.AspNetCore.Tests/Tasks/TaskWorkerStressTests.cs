using System.Collections.Concurrent;
using Coordination.AspNetCore;
using Coordination.Tasks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Coordination.Tests.Tasks;

/// <summary>
/// Many tasks, several racing worker loops, and a seeded script of transient and permanent failures: every task must
/// end exactly where the script says (deleted after its first success, or in the error group with its last error),
/// after exactly the scripted number of runs — no task lost, none run twice after success, none left behind.
/// </summary>
public sealed class TaskWorkerStressTests
{
    private const string Queue = "stress";
    private const int Tasks = 400;
    private const int MaxAttempts = 3;

    [Theory]
    [InlineData(1, 1)]
    [InlineData(2, 4)]
    [InlineData(3, 16)]
    [InlineData(4, 4)]
    [InlineData(5, 32)]
    public async Task ScriptedFailures_EveryTaskEndsWhereTheScriptSays(int seed, int concurrency)
    {
        var runs = new ConcurrentDictionary<long, int>();
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton(new TaskWorkerTests.ScriptedHandler.Script((task, _) =>
        {
            var attempt = runs.AddOrUpdate(task.Id, 1, (_, n) => n + 1);
            Assert.Equal(attempt, task.Attempts);
            return Outcome(seed, task.Id, attempt) switch
            {
                'p' => throw new PermanentTaskException($"permanent {task.Id}"),
                't' => throw new InvalidOperationException($"transient {task.Id}/{attempt}"),
                _ => task.Id % 2 == 0 ? Task.CompletedTask : Task.Run(static () => { }, CancellationToken.None),
            };
        }));
        builder.Services.AddKeyedCoordination(coord => coord
            .AddTaskQueue(Queue, o =>
            {
                o.MaxAttempts = MaxAttempts;
                o.RetryBackoff = TimeSpan.Zero;
                o.MaxRetryBackoff = TimeSpan.Zero;
            })
            .AddWorker<TaskWorkerTests.ScriptedHandler>(o => o.Concurrency = concurrency)
            .AddWorker<TaskWorkerTests.ScriptedHandler>(o => o.Concurrency = concurrency));
        using var host = builder.Build();
        await host.StartAsync();
        var queue = host.Services.GetRequiredKeyedService<TaskQueue>(Queue);

        var ids = new long[Tasks];
        await Parallel.ForAsync(0, Tasks, async (i, ct) => ids[i] = (await queue.EnqueueAsync(ReadOnlyMemory<byte>.Empty, cancellationToken: ct)).Id);
        var expected = ids.ToDictionary(id => id, id => Expected(seed, id));
        var expectedErrors = expected.Count(e => e.Value.Error is not null);

        Http.Gate.WaitUntil(
            () => queue.Store.CountAsync(Queue).AsTask().Result.Total == 0 && queue.Store.CountAsync(queue.ErrorGroup).AsTask().Result.Total == expectedErrors,
            $"every task settles (seed {seed})");
        await host.StopAsync();

        var errors = new Dictionary<long, string?>();
        while (await queue.Store.QueryAsync(queue.ErrorGroup, TimeSpan.FromMinutes(1)) is { } dead)
        {
            errors[dead.Id] = dead.Error;
        }

        foreach (var (id, (expectedRuns, expectedError)) in expected)
        {
            Assert.True(runs.TryGetValue(id, out var actualRuns), $"task {id} never ran (seed {seed})");
            Assert.Equal(expectedRuns, actualRuns);
            Assert.Equal(expectedError, errors.GetValueOrDefault(id));
        }
    }

    /// <summary>The scripted outcome of one run: success, transient or permanent failure.</summary>
    private static char Outcome(int seed, long id, int attempt) =>
        new Random(HashCode.Combine(seed, id, attempt)).Next(100) switch
        {
            < 5 => 'p',
            < 45 => 't',
            _ => 's',
        };

    private static (int Runs, string? Error) Expected(int seed, long id)
    {
        for (var attempt = 1; ; attempt++)
        {
            switch (Outcome(seed, id, attempt))
            {
                case 's':
                    return (attempt, null);
                case 'p':
                    return (attempt, $"permanent {id}");
                case 't' when attempt == MaxAttempts:
                    return (attempt, $"System.InvalidOperationException: transient {id}/{attempt}");
            }
        }
    }
}
