using System.Diagnostics;

namespace Coordination.Ingestion;

/// <summary>
/// Open or closed to appends, and which appends are in progress: stop closes the intake and then waits for the appends
/// that entered before, so every append that answers 202 is in the log before the dispatcher's last pass.
/// </summary>
internal sealed class IngestionIntake
{
    private readonly Lock _sync = new();
    private readonly TaskCompletionSource _drained = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _appending;
    private bool _closed;

    /// <summary>Enters an append; false once the intake is closed. Each true must be followed by one <see cref="Exit"/>.</summary>
    public bool TryEnter()
    {
        lock (_sync)
        {
            if (_closed)
            {
                return false;
            }

            _appending++;
            return true;
        }
    }

    public void Exit()
    {
        lock (_sync)
        {
            Debug.Assert(_appending > 0, "Exit without a matching TryEnter.");
            if (--_appending == 0 && _closed)
            {
                _drained.TrySetResult();
            }
        }
    }

    /// <summary>Closes the intake; the task completes when no append is in progress any more.</summary>
    public Task CloseAsync()
    {
        lock (_sync)
        {
            _closed = true;
            if (_appending == 0)
            {
                _drained.TrySetResult();
            }

            return _drained.Task;
        }
    }
}
