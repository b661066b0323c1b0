using Coordination.Batching;

namespace Coordination.Tests.Batching;

public sealed class Counter
{
    public int Value { get; set; }

    public List<int> Applied { get; } = [];
}

/// <summary>A store whose loads and saves can be held at a gate or made to fail, and which counts what it did.</summary>
internal sealed class TestStore
{
    private readonly object _sync = new();
    private TaskCompletionSource _loadGate = Open();
    private TaskCompletionSource _saveGate = Open();

    public int Loads { get; private set; }

    public int Saves { get; private set; }

    public int LoadsStarted { get; private set; }

    public int SavesStarted { get; private set; }

    public List<int[]> SavedBatches { get; } = [];

    public Exception? LoadFailure { get; set; }

    public Exception? SaveFailure { get; set; }

    public Dictionary<string, int> Durable { get; } = [];

    public void HoldLoads() => _loadGate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

    public void ReleaseLoads() => _loadGate.TrySetResult();

    public void HoldSaves() => _saveGate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

    public void ReleaseSaves() => _saveGate.TrySetResult();

    public BatchProcessorOptions<Counter> Options(Action<BatchProcessorOptions<Counter>>? configure = null)
    {
        var options = new BatchProcessorOptions<Counter> { LoadResource = LoadAsync, SaveResource = SaveAsync };
        configure?.Invoke(options);
        return options;
    }

    public async ValueTask<Counter> LoadAsync(string key, CancellationToken cancellationToken)
    {
        lock (_sync)
        {
            LoadsStarted++;
        }

        await _loadGate.Task.WaitAsync(cancellationToken);
        lock (_sync)
        {
            Loads++;
            if (LoadFailure is { } failure)
            {
                throw failure;
            }

            return new Counter { Value = Durable.GetValueOrDefault(key) };
        }
    }

    public async ValueTask SaveAsync(string key, Counter counter, CancellationToken cancellationToken)
    {
        lock (_sync)
        {
            SavesStarted++;
        }

        await _saveGate.Task.WaitAsync(cancellationToken);
        lock (_sync)
        {
            if (SaveFailure is { } failure)
            {
                throw failure;
            }

            Saves++;
            SavedBatches.Add([.. counter.Applied]);
            Durable[key] = counter.Value;
        }
    }

    private static TaskCompletionSource Open()
    {
        var gate = new TaskCompletionSource();
        gate.SetResult();
        return gate;
    }
}
