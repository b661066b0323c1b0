using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using System.Threading.Channels;
using Coordination.Barriers;
using Coordination.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Coordination.Ingestion;

/// <summary>
/// Ordered event ingestion: accepted events are appended to an <see cref="IEventLog"/> and handled per key in id
/// order; a retryable failure holds the later events of its key (a <see cref="KeyedBarrier"/>) until it succeeds or is
/// dead-lettered.
/// </summary>
/// <typeparam name="TEvent">The event type.</typeparam>
/// <remarks>One dispatcher reads pending events in id order, calls <see cref="KeyedBarrier.Sync"/> at the start of
/// each pass and <see cref="KeyedBarrier.Enter"/> per event, and hands accepted events to a pool of workers (a key
/// always to the same worker), which call <see cref="KeyedBarrier.Wait"/> before the handler runs. An event that is
/// held, backing off or rejected holds its key for the rest of the pass.</remarks>
[SuppressMessage("Design", "CA1001", Justification = "Its cancellation sources have no timers and no registrations of their own: nothing to release, and the host may still stop the ingestion after the container disposed it.")]
public sealed class OrderedIngestion<TEvent>
{
    private readonly string _name;
    private readonly IEventLog _log;
    private readonly KeyedBarrier _barrier;
    private readonly Func<TEvent, EventContext, CancellationToken, Task> _handle;
    private readonly Func<TEvent, string?> _keySelector;
    private readonly JsonTypeInfo<TEvent> _typeInfo;
    private readonly int _maxAttempts;
    private readonly TimeSpan _retryBackoff;
    private readonly TimeSpan _maxRetryBackoff;
    private readonly bool _parkOnTerminalFailure;
    private readonly int _workerCount;
    private readonly int _batchSize;
    private readonly TimeSpan _pollInterval;
    private readonly TimeProvider _timeProvider;
    private readonly IngestionMetrics? _metrics;
    private readonly ILogger _logger;
    // Events handed to the workers; true once finished. A finished event leaves only at the start of the next pass,
    // before the log is read again, so a pass that read the log before the event's new state was saved cannot send it twice.
    private readonly ConcurrentDictionary<long, bool> _inFlight = new();
    private readonly ConcurrentDictionary<string, bool> _parked = new(StringComparer.Ordinal);
    private readonly Channel<bool> _wake = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });
    private readonly CancellationTokenSource _stopping = new();
    private readonly CancellationTokenSource _abort = new();
    private Task? _run;

    internal OrderedIngestion(
        string name,
        OrderedIngestionOptions<TEvent> options,
        IEventLog log,
        Func<TEvent, EventContext, CancellationToken, Task> handle,
        JsonSerializerOptions serializerOptions,
        TimeProvider? timeProvider,
        IngestionMetrics? metrics,
        ILogger? logger)
    {
        OptionsValidation.ThrowIfInvalid(options.Validate(name), nameof(options));

        _name = name;
        _log = log;
        _handle = handle;
        _keySelector = options.KeySelector!;
        _typeInfo = (JsonTypeInfo<TEvent>)serializerOptions.GetTypeInfo(typeof(TEvent));
        _maxAttempts = options.MaxAttempts;
        _retryBackoff = options.RetryBackoff;
        _maxRetryBackoff = options.MaxRetryBackoff;
        _parkOnTerminalFailure = options.OnTerminalFailure == TerminalFailureAction.ParkKey;
        _workerCount = options.Workers;
        _batchSize = options.BatchSize;
        _pollInterval = options.PollInterval;
        _timeProvider = timeProvider ?? TimeProvider.System;
        _metrics = metrics;
        _logger = logger ?? NullLogger.Instance;
        _barrier = new KeyedBarrier(new KeyedBarrierOptions { ConcurrencyLimit = options.DrainConcurrencyLimit, Metadata = $"ingestion {name}" }, _timeProvider);
        metrics?.Register(name, _barrier);
    }

    /// <summary>Gets the ingestion's name.</summary>
    public string Name => _name;

    /// <summary>Gets the JSON contract the ingestion reads its events with.</summary>
    internal JsonTypeInfo<TEvent> EventTypeInfo => _typeInfo;

    /// <summary>Checks every event's key, then appends them all atomically; nothing is appended when one is invalid.</summary>
    /// <param name="events">The events, in the order they are to be handled within each key.</param>
    /// <param name="cancellationToken">Cancels the append.</param>
    /// <returns>The ids of the appended events, in order.</returns>
    /// <exception cref="ArgumentException">An event is null or has no key; the message names its index.</exception>
    /// <exception cref="InvalidOperationException">The ingestion is stopping.</exception>
    public async ValueTask<IReadOnlyList<long>> AppendAsync(IReadOnlyList<TEvent> events, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(events);
        if (_stopping.IsCancellationRequested)
        {
            throw new InvalidOperationException($"Ordered ingestion '{_name}' is stopping; the events were not accepted.");
        }

        var entries = new (string Key, string Payload)[events.Count];
        for (var i = 0; i < events.Count; i++)
        {
            var ingested = events[i] ?? throw new ArgumentException($"Event {i} is null.", nameof(events));
            var key = _keySelector(ingested);
            if (string.IsNullOrEmpty(key))
            {
                throw new ArgumentException($"Event {i} has no key: the key selector of ingestion '{_name}' returned an empty value.", nameof(events));
            }

            entries[i] = (key, JsonSerializer.Serialize(ingested, _typeInfo));
        }

        var ids = await _log.AppendAsync(entries, cancellationToken).ConfigureAwait(false);
        _metrics?.Events(_name, "accepted", ids.Count);
        Wake();
        return ids;
    }

    /// <summary>Returns an event's state, attempts, last error and blocking id.</summary>
    /// <param name="id">The event id.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The event, or <see langword="null"/> if there is none with that id.</returns>
    public ValueTask<LoggedEvent?> GetAsync(long id, CancellationToken cancellationToken = default) => _log.GetAsync(id, cancellationToken);

    /// <summary>Releases a key parked after a dead letter: its next events are handled again.</summary>
    /// <param name="key">The key.</param>
    /// <param name="cancellationToken">Cancels the write.</param>
    /// <returns><see langword="true"/> if the key was parked.</returns>
    public async ValueTask<bool> ReleaseKeyAsync(string key, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        var released = await _log.SetParkedAsync(key, parked: false, cancellationToken).ConfigureAwait(false);
        _parked.TryRemove(key, out _);
        Wake();
        return released;
    }

    /// <summary>Starts the dispatcher and the workers.</summary>
    internal void Start() => _run ??= Task.Run(RunAsync);

    /// <summary>Stops intake, then waits until every accepted event is terminal; when <paramref name="cancellationToken"/>
    /// fires first, running handlers are cancelled and what is left is logged as an error.</summary>
    internal async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        Wake();
        if (_run is null)
        {
            return;
        }

        using (cancellationToken.Register(static s => ((CancellationTokenSource)s!).Cancel(), _abort))
        {
            await _run.ConfigureAwait(false);
        }

        var unfinished = await _log.ReadPendingAsync(int.MaxValue, CancellationToken.None).ConfigureAwait(false);
        if (unfinished.Count > 0)
        {
            IngestionLog.StoppedUnfinished(_logger, _name, unfinished.Count, string.Join(", ", unfinished.Take(10).Select(e => e.Id)));
        }
    }

    private async Task RunAsync()
    {
        foreach (var key in await _log.ParkedKeysAsync(CancellationToken.None).ConfigureAwait(false))
        {
            _parked[key] = true;
        }

        var workers = Enumerable.Range(0, _workerCount).Select(_ => Channel.CreateUnbounded<LoggedEvent>(new UnboundedChannelOptions { SingleReader = true })).ToArray();
        var workerTasks = workers.Select(worker => Task.Run(() => WorkAsync(worker.Reader))).ToArray();
        try
        {
            while (!_abort.IsCancellationRequested)
            {
                var stopping = _stopping.IsCancellationRequested;
                int pending;
                try
                {
                    pending = await DispatchAsync(workers).ConfigureAwait(false);
                }
                catch (Exception exception) when (exception is not OperationCanceledException)
                {
                    IngestionLog.DispatcherFailed(_logger, _name, exception);
                    pending = 1;
                }

                if (stopping && pending == 0 && _inFlight.IsEmpty)
                {
                    return;
                }

                await WaitForWorkAsync().ConfigureAwait(false);
            }
        }
        finally
        {
            foreach (var worker in workers)
            {
                worker.Writer.TryComplete();
            }

            await Task.WhenAll(workerTasks).ConfigureAwait(false);
        }
    }

    /// <summary>One dispatcher pass; returns how many events were not terminal.</summary>
    private async Task<int> DispatchAsync(Channel<LoggedEvent>[] workers)
    {
        _barrier.Sync();
        foreach (var (id, finished) in _inFlight)
        {
            if (finished)
            {
                _inFlight.TryRemove(KeyValuePair.Create(id, true));
            }
        }

        var now = _timeProvider.GetUtcNow();
        var pending = await _log.ReadPendingAsync(_batchSize, CancellationToken.None).ConfigureAwait(false);
        HashSet<string>? held = null;
        foreach (var logged in pending)
        {
            if (held?.Contains(logged.Key) == true || _inFlight.ContainsKey(logged.Id))
            {
                continue;
            }

            if (_parked.ContainsKey(logged.Key) || (logged.State == EventState.Failed && logged.RetryAt > now))
            {
                // Parked, or backing off: the key is held for the rest of the pass.
                (held ??= new HashSet<string>(StringComparer.Ordinal)).Add(logged.Key);
                continue;
            }

            var entry = _barrier.Enter(logged.Key, logged.Id);
            if (!entry.Accepted)
            {
                (held ??= new HashSet<string>(StringComparer.Ordinal)).Add(logged.Key);
                if (entry.PreviousFailedJobId is { } blocking && (logged.State != EventState.Waiting || logged.BlockingId != blocking))
                {
                    await _log.SaveStateAsync(logged with { State = EventState.Waiting, BlockingId = blocking }, CancellationToken.None).ConfigureAwait(false);
                    _metrics?.Events(_name, "waiting");
                }

                continue;
            }

            _inFlight[logged.Id] = false;
            workers[WorkerOf(logged.Key)].Writer.TryWrite(logged);
        }

        return pending.Count;
    }

    private async Task WorkAsync(ChannelReader<LoggedEvent> reader)
    {
        await foreach (var logged in reader.ReadAllAsync().ConfigureAwait(false))
        {
            try
            {
                await HandleAsync(logged).ConfigureAwait(false);
            }
            catch (Exception exception)
            {
                // The log could not record the outcome: the event stays pending and is dispatched again.
                IngestionLog.DispatcherFailed(_logger, _name, exception);
            }
            finally
            {
                _inFlight[logged.Id] = true;
                Wake();
            }
        }
    }

    private async Task HandleAsync(LoggedEvent logged)
    {
        if (_parked.ContainsKey(logged.Key))
        {
            // Queued before its key was parked: undo its entry; it stays pending until the key is released.
            _barrier.Leave(logged.Key, logged.Id);
            return;
        }

        var wait = _barrier.Wait(logged.Key, logged.Id);
        if (wait.MustWait)
        {
            await _log.SaveStateAsync(logged with { State = EventState.Waiting, BlockingId = wait.PreviousFailedJobId }, CancellationToken.None).ConfigureAwait(false);
            _barrier.StateChanged(logged.Key, logged.Id, JobState.Waiting);
            _metrics?.Events(_name, "waiting");
            return;
        }

        var attempt = logged.Attempts + 1;
        try
        {
            var ingested = JsonSerializer.Deserialize(logged.Payload, _typeInfo)
                ?? throw new PermanentEventException($"Event {logged.Id} is null.");
            await _handle(ingested, new EventContext(logged.Id, logged.Key, attempt), _abort.Token).ConfigureAwait(false);
        }
        catch (Exception exception) when (exception is PermanentEventException or JsonException || attempt >= _maxAttempts)
        {
            if (_parkOnTerminalFailure)
            {
                // Parked before the dead letter is visible: whoever sees the dead letter can release the key.
                _parked[logged.Key] = true;
                if (await _log.SetParkedAsync(logged.Key, parked: true, CancellationToken.None).ConfigureAwait(false))
                {
                    IngestionLog.KeyParked(_logger, _name);
                }
            }

            await _log.SaveStateAsync(logged with { State = EventState.DeadLettered, Attempts = attempt, LastError = exception.Message, BlockingId = null, RetryAt = null }, CancellationToken.None).ConfigureAwait(false);
            IngestionLog.EventDeadLettered(_logger, _name, logged.Id, attempt, exception);

            _barrier.StateChanged(logged.Key, logged.Id, JobState.Aborted);
            _metrics?.Events(_name, "aborted");
            return;
        }
        catch (Exception exception)
        {
            // A retryable failure holds the key at once; the log says when the event runs again.
            _barrier.StateChanged(logged.Key, logged.Id, JobState.Failed);
            var retryAt = _timeProvider.GetUtcNow() + Backoff(attempt);
            await _log.SaveStateAsync(logged with { State = EventState.Failed, Attempts = attempt, LastError = exception.Message, BlockingId = null, RetryAt = retryAt }, CancellationToken.None).ConfigureAwait(false);
            IngestionLog.EventFailed(_logger, _name, logged.Id, attempt, exception);
            _metrics?.Events(_name, "failed");
            return;
        }

        await _log.SaveStateAsync(logged with { State = EventState.Succeeded, Attempts = attempt, LastError = null, BlockingId = null, RetryAt = null }, CancellationToken.None).ConfigureAwait(false);
        _barrier.StateChanged(logged.Key, logged.Id, JobState.Succeeded);
        _metrics?.Events(_name, "succeeded");
    }

    private TimeSpan Backoff(int attempt)
    {
        var factor = Math.Pow(2, Math.Min(attempt - 1, 30));
        var backoff = TimeSpan.FromTicks((long)Math.Min(_retryBackoff.Ticks * factor, _maxRetryBackoff.Ticks));
        return backoff;
    }

    private async Task WaitForWorkAsync()
    {
        using var timeout = new CancellationTokenSource(_pollInterval, _timeProvider);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, _abort.Token);
        try
        {
            await _wake.Reader.ReadAsync(linked.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // The poll interval passed: look for due retries.
        }
    }

    private void Wake() => _wake.Writer.TryWrite(true);

    private int WorkerOf(string key) => (int)((uint)StringComparer.Ordinal.GetHashCode(key) % (uint)_workerCount);
}
