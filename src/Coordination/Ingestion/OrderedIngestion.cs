using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Coordination.Barriers;
using Coordination.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Coordination.Ingestion;

/// <summary>
/// Ordered event ingestion: accepted events are appended to an <see cref="IEventLog"/> and handled per key in id
/// order; a retryable failure holds the later events of its key (a <see cref="KeyedBarrier"/>) until it succeeds or is
/// dead-lettered, and other keys keep flowing.
/// </summary>
/// <typeparam name="TEvent">The event type.</typeparam>
/// <remarks>One dispatcher reads the dispatchable events key by key, calls <see cref="KeyedBarrier.Sync"/> at the start
/// of each pass and <see cref="KeyedBarrier.Enter"/> per event, and hands each key's admitted events, as one run, to
/// a pool of workers; a worker calls <see cref="KeyedBarrier.Wait"/> before each handler runs. A key has at most one
/// run in the workers at a time.</remarks>
public sealed class OrderedIngestion<TEvent>
{
    private const int ReportPageSize = 500;

    private readonly string _name;
    private readonly IEventLog _log;
    private readonly Func<TEvent, string?> _keySelector;
    private readonly int _maxKeyLength;
    private readonly JsonTypeInfo<TEvent> _typeInfo;
    private readonly TimeSpan _shutdownTimeout;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger _logger;
    private readonly IngestionMetrics? _metrics;
    private readonly ParkedKeys _parked;
    private readonly IngestionIntake _intake = new();
    private readonly IngestionDispatcher _dispatcher;
    private readonly Lock _stopSync = new();
    private Task? _stop;

    internal OrderedIngestion(
        string name,
        OrderedIngestionOptions<TEvent> options,
        IEventLog log,
        Func<TEvent, EventContext, CancellationToken, Task> handle,
        JsonSerializerOptions serializerOptions,
        TimeProvider? timeProvider,
        TimeSpan shutdownTimeout,
        IngestionMetrics? metrics,
        ILogger? logger)
    {
        OptionsValidation.ThrowIfInvalid(options.Validate(name), nameof(options));

        _name = name;
        _log = log;
        _keySelector = options.KeySelector!;
        _maxKeyLength = options.MaxKeyLength;
        _typeInfo = (JsonTypeInfo<TEvent>)serializerOptions.GetTypeInfo(typeof(TEvent));
        _shutdownTimeout = shutdownTimeout;
        _timeProvider = timeProvider ?? TimeProvider.System;
        _metrics = metrics;
        _logger = logger ?? NullLogger.Instance;
        _parked = new ParkedKeys(_timeProvider);
        IdempotencyWindow = options.IdempotencyWindow;

        var settings = new IngestionSettings(
            options.MaxAttempts,
            options.RetryBackoff,
            options.MaxRetryBackoff,
            options.OnTerminalFailure == TerminalFailureAction.ParkKey,
            options.Workers,
            options.BatchSize,
            options.PollInterval,
            options.SucceededEventRetention);
        // An illegal sequence (a log returning a key's events out of order) holds that key and is counted in
        // coordination.barrier.illegal_sequences; thrown, it would fail every pass and stop every key.
        var barrier = new KeyedBarrier(
            new KeyedBarrierOptions { ConcurrencyLimit = options.DrainConcurrencyLimit, Metadata = $"ingestion {name}", ThrowOnIllegalSequence = false },
            _timeProvider);
        var runner = new IngestionRunner(name, log, barrier, _parked, (logged, attempt, cancellationToken) => HandleAsync(handle, logged, attempt, cancellationToken), settings, _timeProvider, metrics, _logger);
        _dispatcher = new IngestionDispatcher(name, log, barrier, runner, settings, _timeProvider, metrics, _logger);
        metrics?.Register(name, () =>
        {
            // A parked key is as blocked as one behind a failed event: it counts, and so does how long it has waited.
            var (entries, blocked, age) = barrier.GetStatistics();
            return new IngestionMetrics.BarrierStatistics(entries, blocked + _parked.Count, TimeSpan.FromTicks(Math.Max(age.Ticks, _parked.OldestAge().Ticks)), barrier.IllegalSequences);
        });
    }

    /// <summary>Gets the ingestion's name.</summary>
    public string Name => _name;

    /// <summary>Gets the JSON contract the ingestion reads its events with.</summary>
    internal JsonTypeInfo<TEvent> EventTypeInfo => _typeInfo;

    /// <summary>Gets how long an idempotency key is remembered.</summary>
    internal TimeSpan IdempotencyWindow { get; }

    /// <summary>Checks every event's key, then appends them all atomically; nothing is appended when one is invalid.</summary>
    /// <param name="events">The events, in the order they are to be handled within each key.</param>
    /// <param name="cancellationToken">Cancels the append.</param>
    /// <returns>The ids of the appended events, in order.</returns>
    /// <exception cref="ArgumentException">An event is null, has no key, or its key selector threw; the message names its index.</exception>
    /// <exception cref="IngestionStoppedException">The ingestion is stopping.</exception>
    /// <exception cref="IngestionUnavailableException">The log failed; nothing was appended.</exception>
    public async ValueTask<IReadOnlyList<long>> AppendAsync(IReadOnlyList<TEvent> events, CancellationToken cancellationToken = default) =>
        (await AppendAsync(events, idempotency: null, cancellationToken).ConfigureAwait(false)).Ids;

    /// <summary>Returns an event's state, attempts, last error and blocking id.</summary>
    /// <param name="id">The event id.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The event, or <see langword="null"/> if there is none with that id.</returns>
    public ValueTask<LoggedEvent?> GetAsync(long id, CancellationToken cancellationToken = default) => _log.GetAsync(id, cancellationToken);

    /// <summary>Releases a key parked after a dead letter: its next events are handled again, in order.</summary>
    /// <param name="key">The key.</param>
    /// <param name="cancellationToken">Cancels the write.</param>
    /// <returns><see langword="true"/> if the key was parked.</returns>
    public async ValueTask<bool> ReleaseKeyAsync(string key, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        var released = await _log.SetParkedAsync(key, parked: false, cancellationToken).ConfigureAwait(false);
        _parked.Release(key);
        _dispatcher.Wake();
        return released;
    }

    /// <summary>Replays a dead-lettered event: a copy with a new id is appended (handled after its key's pending events,
    /// in order) and the dead letter is removed, in one step.</summary>
    /// <param name="id">The id of the dead-lettered event.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The id of the copy, or <see langword="null"/> when there is no dead-lettered event with that id.</returns>
    public async ValueTask<long?> ReplayAsync(long id, CancellationToken cancellationToken = default)
    {
        var copy = await _log.ReplayAsync(id, cancellationToken).ConfigureAwait(false);
        if (copy is not null)
        {
            _metrics?.Events(_name, "accepted");
            _dispatcher.Wake();
        }

        return copy;
    }

    /// <summary>Appends events, idempotently when <paramref name="idempotency"/> is given.</summary>
    internal async ValueTask<AppendResult> AppendAsync(IReadOnlyList<TEvent> events, IdempotentAppend? idempotency, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(events);
        if (!_intake.TryEnter())
        {
            throw new IngestionStoppedException($"Ordered ingestion '{_name}' is stopping; the events were not accepted.");
        }

        try
        {
            var entries = ToNewEvents(events);
            AppendResult result;
            try
            {
                result = await _log.AppendAsync(entries, idempotency, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception exception) when (!cancellationToken.IsCancellationRequested)
            {
                IngestionLog.AppendFailed(_logger, _name, entries.Length, exception);
                throw new IngestionUnavailableException($"Ordered ingestion '{_name}' could not make the events durable: its log failed ({exception.GetType().Name}); nothing was accepted. Retry later.", exception);
            }

            if (result.Outcome == AppendOutcome.Appended)
            {
                _metrics?.Events(_name, "accepted", result.Ids.Count);
                _dispatcher.Wake();
            }

            return result;
        }
        finally
        {
            _intake.Exit();
        }
    }

    /// <summary>Starts the dispatcher and the workers.</summary>
    internal void Start() => _dispatcher.Start(LoadParkedKeysAsync);

    /// <summary>Closes intake and waits for the appends in progress, then lets the dispatcher finish what is
    /// dispatchable. The wait is bounded by <paramref name="cancellationToken"/> and by the host's shutdown timeout,
    /// whichever comes first: then running handlers see their token cancelled and the stop returns without waiting for
    /// them. Every event not finished is then logged with its id (events 205 and 206). Idempotent.</summary>
    internal Task StopAsync(CancellationToken cancellationToken)
    {
        lock (_stopSync)
        {
            return _stop ??= StopCoreAsync(cancellationToken);
        }
    }

    private async Task StopCoreAsync(CancellationToken cancellationToken)
    {
        using var timeout = new CancellationTokenSource(_shutdownTimeout, _timeProvider);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        await _intake.CloseAsync().WaitAsync(deadline.Token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        await _dispatcher.StopAsync(deadline.Token).ConfigureAwait(false);
        try
        {
            await ReportUnfinishedAsync().ConfigureAwait(false);
        }
        catch (Exception exception)
        {
            IngestionLog.DispatcherFailed(_logger, _name, exception);
        }
    }

    /// <summary>Logs every event that is not terminal, a page of ids at a time, then how many there were.</summary>
    private async Task ReportUnfinishedAsync()
    {
        var unfinished = 0;
        for (var afterId = 0L; ;)
        {
            var page = await _log.ReadPendingAsync(afterId, ReportPageSize, CancellationToken.None).ConfigureAwait(false);
            if (page.Count == 0)
            {
                break;
            }

            IngestionLog.UnfinishedIds(_logger, _name, string.Join(", ", page.Select(static e => e.Id)));
            unfinished += page.Count;
            afterId = page[^1].Id;
        }

        if (unfinished > 0)
        {
            IngestionLog.StoppedUnfinished(_logger, _name, unfinished, _parked.Count);
        }
    }

    private async Task LoadParkedKeysAsync(CancellationToken cancellationToken) =>
        _parked.ReplaceWith(await _log.ParkedKeysAsync(cancellationToken).ConfigureAwait(false));

    /// <summary>Reads each event's key and payload. The errors carry no parameter name: their message goes to the client as is.</summary>
    private NewEvent[] ToNewEvents(IReadOnlyList<TEvent> events)
    {
        var entries = new NewEvent[events.Count];
        var traceParent = CoordinationDiagnostics.CurrentTraceParent();
        for (var i = 0; i < events.Count; i++)
        {
            var ingested = events[i] ?? throw new ArgumentException($"Event {i} is null.", innerException: null);
            string? key;
            try
            {
                key = _keySelector(ingested);
            }
            catch (Exception exception)
            {
                // The event is malformed for this ingestion; retrying the same request cannot help.
                throw new ArgumentException($"Event {i}: the key selector of ingestion '{_name}' threw {exception.GetType().Name}: {exception.Message}", exception);
            }

            if (string.IsNullOrEmpty(key))
            {
                throw new ArgumentException($"Event {i} has no key: the key selector of ingestion '{_name}' returned an empty value.", innerException: null);
            }

            if (key.Length > _maxKeyLength)
            {
                throw new ArgumentException($"Event {i} has a key of {key.Length} characters; ingestion '{_name}' accepts keys of at most {_maxKeyLength} (MaxKeyLength).", innerException: null);
            }

            entries[i] = new NewEvent(key, JsonSerializer.Serialize(ingested, _typeInfo)) { TraceParent = traceParent };
        }

        return entries;
    }

    private Task HandleAsync(Func<TEvent, EventContext, CancellationToken, Task> handle, LoggedEvent logged, int attempt, CancellationToken cancellationToken)
    {
        var ingested = JsonSerializer.Deserialize(logged.Payload, _typeInfo)
            ?? throw new PermanentEventException($"Event {logged.Id} is null.");
        return handle(ingested, new EventContext(logged.Id, logged.Key, attempt), cancellationToken);
    }
}
