using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace Coordination.AspNetCore;

/// <summary>
/// A request that may lead its flight (every request brings one; only the leader's runs). When it leads, the endpoint
/// runs on its context for every client of the flight: its response is decided and handed to the followers when it
/// starts, and its body streams to them as it is written.
/// </summary>
internal sealed class SingleFlightLeader(HttpContext context, SingleFlightPolicy policy, Func<HttpContext, Task> endpoint, CancellationToken clientAborted)
{
    private ResponseCaptureFeature? _capture;

    /// <summary>The endpoint's run on this request's context, when this request led.</summary>
    public Task? Execution { get; private set; }

    /// <summary>Runs the endpoint; the task completes when the response starts, while the endpoint goes on writing its body.</summary>
    public Task<CapturedResponse> LeadAsync(CancellationToken flightAborted)
    {
        var started = new TaskCompletionSource<CapturedResponse>(TaskCreationOptions.RunContinuationsAsynchronously);
        Execution = RunEndpointAsync(started, flightAborted);
        return started.Task;
    }

    /// <summary>
    /// Answers this leader's own client the way its endpoint run does, once the run is over (the context is in use
    /// until then). A client that left or timed out got nothing after that moment: it ends in cancellation, as an
    /// endpoint that honours <c>RequestAborted</c> would.
    /// </summary>
    public async Task AnswerAsync()
    {
        await Execution!.ConfigureAwait(false);
        if (_capture!.Detached)
        {
            throw new OperationCanceledException("The client of the leading request left before the shared response ended.", clientAborted);
        }
    }

    private async Task RunEndpointAsync(TaskCompletionSource<CapturedResponse> started, CancellationToken flightAborted)
    {
        var features = context.Features;
        var originalBody = features.GetRequiredFeature<IHttpResponseBodyFeature>();
        var originalLifetime = features.GetRequiredFeature<IHttpRequestLifetimeFeature>();
        var headersBefore = context.Response.Headers.ToDictionary(StringComparer.OrdinalIgnoreCase);
        if (policy.EmitRoleHeader)
        {
            context.Response.Headers[SingleFlightSharingRules.RoleHeaderName] = "leader";
        }

        // Before the response starts the flight decides when every client is gone; after, the shared body's audience.
        using var everyClientGone = CancellationTokenSource.CreateLinkedTokenSource(flightAborted);
        var lifetime = new SingleFlightRequestLifetimeFeature(originalLifetime, () => _capture?.Captured?.Body?.Abort(), everyClientGone.Token);
        var capture = _capture = new ResponseCaptureFeature(originalBody, StartResponse);
        features.Set<IHttpResponseBodyFeature>(capture);
        features.Set<IHttpRequestLifetimeFeature>(lifetime);
        using var leaderGone = clientAborted.UnsafeRegister(static state => ((ResponseCaptureFeature)state!).Detach(), capture);
        try
        {
            await endpoint(context).ConfigureAwait(false);
            await capture.FinishAsync().ConfigureAwait(false);
        }
        catch (Exception exception)
        {
            // Before the response started, the flight shares the failure; after, the followers' streams end with it.
            if (!started.TrySetException(exception))
            {
                capture.Captured?.Body?.Fail(exception);
            }

            throw;
        }
        finally
        {
            features.Set(originalBody);
            features.Set(originalLifetime);
        }

        CapturedResponse StartResponse()
        {
            var response = context.Response;
            var refusal = SingleFlightSharingRules.Refusal(response, policy.MaxResponseBodySize, lifetime.AbortCalled);
            var captured = refusal is not null
                ? CapturedResponse.NotShared(refusal)
                : CapturedResponse.Shared(
                    response.StatusCode,
                    SingleFlightSharingRules.ReplayedHeaders(response.Headers, headersBefore),
                    SingleFlightSharingRules.VaryValues(context, policy, headersBefore),
                    new SharedResponseBody(policy.MaxResponseBodySize, () => CancelQuietly(everyClientGone)));
            started.TrySetResult(captured);
            return captured;
        }
    }

    private static void CancelQuietly(CancellationTokenSource source)
    {
        try
        {
            source.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // The endpoint has already returned: nobody listens any more.
        }
    }
}
