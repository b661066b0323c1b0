using System.Diagnostics;
using System.Text.Json;
using Coordination.Barriers;
using Coordination.Diagnostics;
using Microsoft.Extensions.Logging;

namespace Coordination.Ingestion;

/// <summary>Handles a <see cref="KeyRun"/> on a worker: runs each event's handler in order and saves its outcome
/// before the barrier hears of it.</summary>
/// <remarks>The run stops at the first event that must not be followed by the next one in this run: a dead letter
/// (the dispatcher re-admits the key under the drain limit), a parked key, an event given back by the stop, or an
/// outcome the log could not record. The events not handled are left to the barrier (<see cref="KeyedBarrier.Leave"/>)
/// and stay as they are in the log, so the next pass reads them again from the key's oldest pending event.</remarks>
internal sealed class IngestionRunner(
    string name,
    IEventLog log,
    KeyedBarrier barrier,
    ParkedKeys parked,
    Func<LoggedEvent, int, CancellationToken, Task> handle,
    IngestionSettings settings,
    TimeProvider timeProvider,
    IngestionMetrics? metrics,
    ILogger logger)
{
    private const string ActivityOperationName = "coordination.ingestion";

    private readonly string _activityDisplayName = $"{ActivityOperationName} {name}";

    public async Task RunAsync(KeyRun run, CancellationToken stopNow)
    {
        var next = 0;
        try
        {
            while (next < run.Events.Count && !stopNow.IsCancellationRequested && !parked.Contains(run.Key))
            {
                var goOn = await HandleAsync(run.Events[next], stopNow).ConfigureAwait(false);
                next++;
                if (!goOn)
                {
                    break;
                }
            }
        }
        finally
        {
            for (var i = next; i < run.Events.Count; i++)
            {
                barrier.Leave(run.Key, run.Events[i].Id);
            }
        }
    }

    /// <summary>Handles one event; returns whether the run goes on with the next event of the key.</summary>
    private async Task<bool> HandleAsync(LoggedEvent logged, CancellationToken stopNow)
    {
        var wait = barrier.Wait(logged.Key, logged.Id);
        if (wait.MustWait)
        {
            // An earlier event of the key failed in this run: record who holds this one, for the status endpoint.
            await log.SaveStateAsync(logged with { State = EventState.Waiting, BlockingId = wait.PreviousFailedJobId }, CancellationToken.None).ConfigureAwait(false);
            barrier.StateChanged(logged.Key, logged.Id, JobState.Waiting);
            metrics?.Events(name, "waiting");
            return true;
        }

        var attempt = logged.Attempts + 1;

        // The handling continues the trace of the request that appended the event, if the log kept its context.
        using var activity = CoordinationDiagnostics.StartConsumerActivity(ActivityOperationName, logged.TraceParent);
        if (activity is not null)
        {
            activity.DisplayName = _activityDisplayName;
            activity.SetTag(CoordinationDiagnostics.NameTag, name);
            activity.SetTag("coordination.ingestion.attempt", attempt);
        }

        try
        {
            await handle(logged, attempt, stopNow).ConfigureAwait(false);
        }
        catch (Exception) when (stopNow.IsCancellationRequested)
        {
            // Cut off by the stop: not an attempt. The event keeps its state and is reported as unfinished.
            barrier.Leave(logged.Key, logged.Id);
            return false;
        }
        catch (Exception exception) when (exception is PermanentEventException or JsonException || attempt >= settings.MaxAttempts)
        {
            MarkFailed(activity, exception);
            await DeadLetterAsync(logged, attempt, exception).ConfigureAwait(false);
            return false;
        }
        catch (Exception exception)
        {
            // A retryable failure holds the key at once; the log says when the event runs again.
            MarkFailed(activity, exception);
            barrier.StateChanged(logged.Key, logged.Id, JobState.Failed);
            var retryAt = timeProvider.GetUtcNow() + settings.Backoff(attempt);
            await log.SaveStateAsync(logged with { State = EventState.Failed, Attempts = attempt, LastError = exception.Message, BlockingId = null, RetryAt = retryAt }, CancellationToken.None).ConfigureAwait(false);
            IngestionLog.EventFailed(logger, name, logged.Id, attempt, exception);
            metrics?.Events(name, "failed");
            return true;
        }

        await log.SaveStateAsync(logged with { State = EventState.Succeeded, Attempts = attempt, LastError = null, BlockingId = null, RetryAt = null }, CancellationToken.None).ConfigureAwait(false);
        barrier.StateChanged(logged.Key, logged.Id, JobState.Succeeded);
        metrics?.Events(name, "succeeded");
        metrics?.Handled(name, "succeeded", logged.AcceptedAt, timeProvider.GetUtcNow());
        return true;
    }

    private static void MarkFailed(Activity? activity, Exception exception)
    {
        activity?.SetStatus(ActivityStatusCode.Error, exception.Message);
        activity?.SetTag(CoordinationDiagnostics.ErrorTypeTag, exception.GetType().FullName);
    }

    private async Task DeadLetterAsync(LoggedEvent logged, int attempt, Exception exception)
    {
        if (settings.ParkOnTerminalFailure)
        {
            // Parked before the dead letter is visible: whoever sees the dead letter can release the key.
            parked.Park(logged.Key);
            bool parkedNow;
            try
            {
                parkedNow = await log.SetParkedAsync(logged.Key, parked: true, CancellationToken.None).ConfigureAwait(false);
            }
            catch
            {
                // Not parked in the log, so not here either: the event stays pending and runs again.
                parked.Release(logged.Key);
                throw;
            }

            if (parkedNow)
            {
                IngestionLog.KeyParked(logger, name, logged.Key, logged.Id);
            }
        }

        await log.SaveStateAsync(logged with { State = EventState.DeadLettered, Attempts = attempt, LastError = exception.Message, BlockingId = null, RetryAt = null }, CancellationToken.None).ConfigureAwait(false);
        IngestionLog.EventDeadLettered(logger, name, logged.Id, attempt, exception);
        barrier.StateChanged(logged.Key, logged.Id, JobState.Aborted);
        metrics?.Events(name, "aborted");
        metrics?.Handled(name, "aborted", logged.AcceptedAt, timeProvider.GetUtcNow());
    }
}
