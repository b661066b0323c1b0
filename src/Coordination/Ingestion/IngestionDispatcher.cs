using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;
using System.Threading.Channels;
using Coordination.Barriers;
using Coordination.Diagnostics;
using Microsoft.Extensions.Logging;

namespace Coordination.Ingestion;

/// <summary>
/// The one loop that owns an ingestion's <see cref="KeyedBarrier"/>: each pass calls <see cref="KeyedBarrier.Sync"/>,
/// reads the dispatchable events (<see cref="IEventLog.ReadDispatchableAsync"/>, which skips held keys), admits each
/// key's events with <see cref="KeyedBarrier.Enter"/> up to the first one it rejects, and hands the admitted run to
/// the workers.
/// </summary>
/// <remarks>A key with a run in the workers is held: the log skips it until the run has finished and a pass has seen
/// that, so a key's events never run out of order, and a held key's backlog never takes the place of other keys.</remarks>
[SuppressMessage("Design", "CA1001", Justification = "Its cancellation source has no timer and no registration: nothing to release, and the host may still stop the ingestion after the container disposed it.")]
internal sealed class IngestionDispatcher
{
    private readonly string _name;
    private readonly IEventLog _log;
    private readonly KeyedBarrier _barrier;
    private readonly IngestionRunner _runner;
    private readonly IngestionSettings _settings;
    private readonly TimeProvider _timeProvider;
    private readonly IngestionMetrics? _metrics;
    private readonly ILogger _logger;
    private readonly DispatcherSignal _signal;

    // Keys with a run in the workers; true once it finished. A finished key is let go only at the start of a pass,
    // before the log is read again, so a pass that read the log before the run's states were saved cannot run it twice.
    private readonly ConcurrentDictionary<string, bool> _inFlight = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stopNow = new();
    private volatile bool _stopping;
    private Task? _run;
    private Func<CancellationToken, Task>? _rebuild;

    private const int SweepPageSize = 1000;

    private DateTimeOffset _nextSweep = DateTimeOffset.MinValue;

    // The dispatch lease the barrier and the parked keys were rebuilt under; null while another process dispatches.
    private long? _leaseToken;

    public IngestionDispatcher(string name, IEventLog log, KeyedBarrier barrier, IngestionRunner runner, IngestionSettings settings, TimeProvider timeProvider, IngestionMetrics? metrics, ILogger logger)
    {
        _name = name;
        _log = log;
        _barrier = barrier;
        _runner = runner;
        _settings = settings;
        _timeProvider = timeProvider;
        _metrics = metrics;
        _logger = logger;
        _signal = new DispatcherSignal(timeProvider);
    }

    public void Wake() => _signal.Wake();

    /// <summary>Starts the loop; <paramref name="rebuild"/> reloads the parked keys, whenever the dispatch lease is
    /// acquired (at the first pass, and after another process dispatched the log).</summary>
    public void Start(Func<CancellationToken, Task> rebuild)
    {
        _rebuild = rebuild;
        _run ??= Task.Run(RunAsync);
    }

    /// <summary>Finishes what is dispatchable (everything but parked keys, retries included), then returns
    /// <see langword="true"/>; when <paramref name="deadline"/> fires first, cancels the handlers and returns
    /// <see langword="false"/> at once, without waiting for handlers that ignore their token.</summary>
    public async Task<bool> StopAsync(CancellationToken deadline)
    {
        _stopping = true;
        Wake();
        if (_run is null)
        {
            return true;
        }

        await _run.WaitAsync(deadline).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        if (_run.IsCompleted)
        {
            return true;
        }

        await _stopNow.CancelAsync().ConfigureAwait(false);
        return false;
    }

    private async Task RunAsync()
    {
        var work = Channel.CreateUnbounded<KeyRun>(new UnboundedChannelOptions { SingleWriter = true });
        var workers = Enumerable.Range(0, _settings.Workers).Select(_ => Task.Run(() => WorkAsync(work.Reader))).ToArray();
        var failures = 0;
        while (!_stopNow.IsCancellationRequested)
        {
            var stopping = _stopping;
            var dispatched = false;
            try
            {
                dispatched = await PassAsync(work.Writer).ConfigureAwait(false);
                await SweepIfDueAsync().ConfigureAwait(false);
                // A process without the lease leaves the log's events to the one that has it.
                if (stopping && _inFlight.IsEmpty && (_leaseToken is null || await NothingLeftAsync().ConfigureAwait(false)))
                {
                    work.Writer.Complete();
                    await Task.WhenAll(workers).ConfigureAwait(false);
                    return;
                }

                failures = 0;
            }
            catch (Exception exception)
            {
                if (_stopNow.IsCancellationRequested)
                {
                    break;
                }

                IngestionLog.DispatcherFailed(_logger, _name, exception);
                failures++;
            }

            if (!dispatched)
            {
                await _signal.WaitAsync(AfterFailures(failures), _stopNow.Token).ConfigureAwait(false);
            }
        }

        // Stopped at the deadline: the workers see the cancelled token; one whose handler ignores it is left behind.
        work.Writer.TryComplete();
    }

    /// <summary>The poll interval, doubled per consecutive failure up to 64 times: a log that is down is not hammered.</summary>
    private TimeSpan AfterFailures(int failures) => _settings.PollInterval * Math.Pow(2, Math.Min(failures, 6));

    /// <summary>One pass; returns whether it handed out a run (then the next pass follows at once).</summary>
    private async Task<bool> PassAsync(ChannelWriter<KeyRun> work)
    {
        var finished = _inFlight.Where(static run => run.Value).Select(static run => run.Key).ToList();
        _barrier.Sync();
        foreach (var key in finished)
        {
            _inFlight.TryRemove(KeyValuePair.Create(key, true));
        }

        if (!await HoldLeaseAsync().ConfigureAwait(false))
        {
            return false;
        }

        var freeRuns = _settings.MaxRunsInFlight - _inFlight.Count;
        if (freeRuns <= 0)
        {
            return false;
        }

        var held = new HashSet<string>(_inFlight.Keys, StringComparer.Ordinal);
        var query = new DispatchQuery(freeRuns, _settings.BatchSize, _timeProvider.GetUtcNow(), held);
        var dispatchable = await _log.ReadDispatchableAsync(query, _stopNow.Token).ConfigureAwait(false);
        var dispatched = false;
        foreach (var events in dispatchable.GroupBy(static e => e.Key, StringComparer.Ordinal))
        {
            if (held.Contains(events.Key))
            {
                continue;
            }

            held.Add(events.Key);
            var admitted = await AdmitAsync(events).ConfigureAwait(false);
            if (admitted.Count > 0)
            {
                _inFlight[events.Key] = false;
                work.TryWrite(new KeyRun(events.Key, admitted));
                dispatched = true;
            }
        }

        return dispatched;
    }

    /// <summary>Removes the succeeded events older than the retention, a page at a time; only the process that
    /// dispatches sweeps, so a fleet sweeps once.</summary>
    private async Task SweepIfDueAsync()
    {
        var now = _timeProvider.GetUtcNow();
        if (_leaseToken is null || now < _nextSweep)
        {
            return;
        }

        _nextSweep = now + _settings.SweepInterval;
        int deleted;
        do
        {
            deleted = await _log.DeleteSucceededAsync(now - _settings.SucceededRetention, SweepPageSize, _stopNow.Token).ConfigureAwait(false);
        }
        while (deleted == SweepPageSize);
    }

    /// <summary>Acquires or renews the dispatch lease; returns whether this process may dispatch now. Under a new lease
    /// (another process dispatched in between, or this is the first pass) the barrier and the parked keys are rebuilt
    /// from the log, once the runs of the old lease have finished (their saves are rejected by the log).</summary>
    private async Task<bool> HoldLeaseAsync()
    {
        var token = await _log.AcquireDispatchLeaseAsync(_stopNow.Token).ConfigureAwait(false);
        if (token is null)
        {
            if (_leaseToken is not null)
            {
                IngestionLog.DispatchLeaseLost(_logger, _name);
                _leaseToken = null;
            }

            return false;
        }

        if (token == _leaseToken)
        {
            return true;
        }

        if (!_inFlight.IsEmpty)
        {
            return false;
        }

        _barrier.Clear();
        await _rebuild!(_stopNow.Token).ConfigureAwait(false);
        _leaseToken = token;
        return true;
    }

    /// <summary>Enters a key's events in id order, up to the first one the barrier rejects; the rest of the key waits
    /// for a later pass.</summary>
    private async Task<List<LoggedEvent>> AdmitAsync(IEnumerable<LoggedEvent> events)
    {
        var admitted = new List<LoggedEvent>();
        foreach (var logged in events.OrderBy(static e => e.Id))
        {
            var entry = _barrier.Enter(logged.Key, logged.Id);
            if (entry.Accepted)
            {
                admitted.Add(logged);
                continue;
            }

            if (entry.PreviousFailedJobId is { } blocking && (logged.State != EventState.Waiting || logged.BlockingId != blocking))
            {
                await _log.SaveStateAsync(logged with { State = EventState.Waiting, BlockingId = blocking }, CancellationToken.None).ConfigureAwait(false);
                _metrics?.Events(_name, "waiting");
            }

            break;
        }

        return admitted;
    }

    /// <summary>Whether nothing is left that a pass could dispatch, now or after a backoff (parked keys wait for an operator).</summary>
    private async Task<bool> NothingLeftAsync()
    {
        var anyTime = new DispatchQuery(1, 1, DateTimeOffset.MaxValue, new HashSet<string>(StringComparer.Ordinal));
        return (await _log.ReadDispatchableAsync(anyTime, _stopNow.Token).ConfigureAwait(false)).Count == 0;
    }

    private async Task WorkAsync(ChannelReader<KeyRun> runs)
    {
        await foreach (var run in runs.ReadAllAsync().ConfigureAwait(false))
        {
            try
            {
                await _runner.RunAsync(run, _stopNow.Token).ConfigureAwait(false);
            }
            catch (Exception exception)
            {
                // The log could not record an outcome: the event stays pending and is dispatched again.
                IngestionLog.DispatcherFailed(_logger, _name, exception);
            }
            finally
            {
                _inFlight[run.Key] = true;
                Wake();
            }
        }
    }
}
