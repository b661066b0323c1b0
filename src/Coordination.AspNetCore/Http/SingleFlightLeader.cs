using Coordination.SingleFlight;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Primitives;

namespace Coordination.AspNetCore;

/// <summary>
/// A request that may lead its flight (every request brings one; only the leader's runs). When it leads, the endpoint
/// runs on its context for every client of the flight: its response is decided and handed to the followers when it
/// starts, and its body streams to them as it is written.
/// </summary>
/// <remarks>
/// <para>A lone request pays little: when no follower joined by the time its response starts, the flight closes and the
/// response goes to its own client alone, unbuffered, as without coalescing — unless the policy keeps responses after
/// their flights (<see cref="SingleFlightPolicyOptions.CacheFor"/>), which needs the body.</para>
/// <para>While its endpoint runs, the leader is also its request's lifetime feature: <c>RequestAborted</c> fires only
/// when every client of the flight has gone, and <c>Abort()</c> ends the shared response for all of them. (One object
/// for both, as Kestrel's own request is most of its features: every request that may lead pays for it.) Middleware
/// inside the flight (say, <c>UseRequestTimeouts</c> after <c>UseSingleFlight</c>) may replace the token with one
/// linked to it, as it does on any request: its limit then applies to the shared run.</para>
/// </remarks>
internal sealed class SingleFlightLeader(HttpContext context, SingleFlightPolicy policy, Func<HttpContext, Task> endpoint, CancellationToken clientAborted)
    : ISingleFlightWork<string, CapturedResponse>, IHttpRequestLifetimeFeature
{
    /// <summary>A lone response that started while its run was being started: no task of its own (one allocation less).</summary>
    private static readonly Task<CapturedResponse> StartedAlone = Task.FromResult(CapturedResponse.Alone);

    /// <summary>
    /// How the response started, as the flight learns it: <see langword="null"/> until then; the
    /// <see cref="CapturedResponse"/>, or the failed task of a run that failed first; or, when the flight asked before
    /// either, the source it waits on. Set with compare-and-swap: the endpoint may start its response on another thread
    /// while <see cref="RunAsync"/> returns.
    /// </summary>
    private object? _start;
    private FlightExecution<string, CapturedResponse>? _execution;
    private IHttpRequestLifetimeFeature? _originalLifetime;
    private CancellationToken _replacedRequestAborted;
    private volatile bool _requestAbortedReplaced;
    private bool _abortCalled;
    private ResponseCaptureFeature? _capture;
    private Dictionary<string, StringValues>? _headersBefore;

    /// <summary>The endpoint's run on this request's context, when this request led.</summary>
    public Task? Execution { get; private set; }

    /// <summary>
    /// The endpoint's <c>RequestAborted</c>. Before the response starts, the flight's token, which fires when every client
    /// of the flight is gone; after, the response's audience cancels it (<see cref="EveryClientGone"/>). Uncoalesced, it
    /// is the client's own token.
    /// </summary>
    CancellationToken IHttpRequestLifetimeFeature.RequestAborted
    {
        get => _requestAbortedReplaced ? _replacedRequestAborted : _execution is { } execution ? execution.WorkToken : clientAborted;
        set
        {
            // The token before the flag (a volatile write): a reader that sees the flag sees the token whole.
            _replacedRequestAborted = value;
            _requestAbortedReplaced = true;
        }
    }

    /// <summary>Runs the endpoint; the task completes when the response starts, while the endpoint goes on writing its body.</summary>
    /// <param name="execution">The flight's execution this run is; <see langword="null"/> when it runs uncoalesced.</param>
    /// <param name="cancellationToken">Unused: the endpoint's token is read when it asks (see <c>RequestAborted</c>).</param>
    public Task<CapturedResponse> RunAsync(FlightExecution<string, CapturedResponse>? execution, CancellationToken cancellationToken)
    {
        _execution = execution;
        Execution = RunEndpointAsync();
        var start = Volatile.Read(ref _start);
        if (start is null)
        {
            // The response has not started yet (the endpoint awaits something first): the flight waits for it. Its
            // continuation is the flight's publication (a short lock, then completions that run their own continuations
            // on the thread pool), so it runs where the response starts rather than costing a hop to the thread pool.
            var waiting = new TaskCompletionSource<CapturedResponse>();
            start = Interlocked.CompareExchange(ref _start, waiting, null) ?? waiting;
        }

        return start switch
        {
            TaskCompletionSource<CapturedResponse> waiting => waiting.Task,
            CapturedResponse captured => ReferenceEquals(captured, CapturedResponse.Alone) ? StartedAlone : Task.FromResult(captured),
            _ => (Task<CapturedResponse>)start,
        };
    }

    /// <summary>
    /// Once the endpoint's run is over (awaited where the request is handled, so that no task of its own is needed), the
    /// leader's own client is answered as that run did. A client that left or timed out got nothing after that moment:
    /// it ends in cancellation, as an endpoint that honours <c>RequestAborted</c> would.
    /// </summary>
    public void ThrowIfClientLeft()
    {
        if (_capture!.Detached)
        {
            throw new OperationCanceledException("The client of the leading request left before the shared response ended.", clientAborted);
        }
    }

    /// <summary>
    /// The response starts: decides whether it goes to followers. Nobody joined (and nothing is cached): it is this
    /// client's alone. Otherwise the replay gate decides, and a shared body is kept for the followers and the cache.
    /// </summary>
    public CapturedResponse StartResponse()
    {
        // A policy that keeps responses (CacheFor) needs the body even when nobody joined.
        var alone = _execution is null || (policy.Cache is null && _execution.TryCloseUnshared());
        var captured = alone ? CapturedResponse.Alone : Decide();
        if (Interlocked.CompareExchange(ref _start, captured, null) is TaskCompletionSource<CapturedResponse> waiting)
        {
            waiting.TrySetResult(captured);
        }

        return captured;

        CapturedResponse Decide()
        {
            var response = context.Response;
            var refusal = SingleFlightSharingRules.Refusal(response, policy.MaxResponseBodySize, _abortCalled);
            return refusal is not null
                ? CapturedResponse.NotShared(refusal)
                : CapturedResponse.Shared(
                    response.StatusCode,
                    SingleFlightSharingRules.ReplayedHeaders(response.Headers, _headersBefore),
                    SingleFlightSharingRules.VaryValues(context, policy, _headersBefore),
                    new SharedResponseBody(policy.MaxResponseBodySize, EveryClientGone));
        }
    }

    /// <summary>The endpoint aborts its request: the shared response ends for every client, and the leader's connection goes.</summary>
    void IHttpRequestLifetimeFeature.Abort()
    {
        _abortCalled = true;
        _capture?.Captured?.Body?.Abort();
        _originalLifetime!.Abort();
    }

    /// <summary>Nobody is left to receive the response: the endpoint's <c>RequestAborted</c> fires.</summary>
    public void EveryClientGone() => _execution?.CancelWork();

    /// <summary>The leader's client left before the response started: the flight no longer counts it.</summary>
    public void LeftBeforeStart() => _execution?.LeaderLeft();

    /// <summary>The run failed: whether that is how the flight learns its response (it had not started).</summary>
    private bool FailStart(Exception exception)
    {
        var start = Volatile.Read(ref _start);
        if (start is null)
        {
            start = Interlocked.CompareExchange(ref _start, Task.FromException<CapturedResponse>(exception), null);
            if (start is null)
            {
                return true;
            }
        }

        return start is TaskCompletionSource<CapturedResponse> waiting && waiting.TrySetException(exception);
    }

    private async Task RunEndpointAsync()
    {
        var features = context.Features;
        IHttpResponseBodyFeature? originalBody = null;
        try
        {
            // Through the indexer: Get<T>() and Set<T>() are generic virtual calls, several times its cost.
            originalBody = features[typeof(IHttpResponseBodyFeature)] as IHttpResponseBodyFeature
                ?? throw new InvalidOperationException($"The request has no {nameof(IHttpResponseBodyFeature)}.");
            _originalLifetime = features[typeof(IHttpRequestLifetimeFeature)] as IHttpRequestLifetimeFeature
                ?? throw new InvalidOperationException($"The request has no {nameof(IHttpRequestLifetimeFeature)}.");
            var headers = context.Response.Headers;
            if (headers.Count > 0)
            {
                // What outer middleware set before the endpoint ran is theirs, not the endpoint's (see the sharing rules).
                _headersBefore = headers.ToDictionary(StringComparer.OrdinalIgnoreCase);
            }

            if (policy.EmitRoleHeader)
            {
                headers[SingleFlightSharingRules.RoleHeaderName] = "leader";
            }

            var capture = _capture = new ResponseCaptureFeature(originalBody, this);
            features[typeof(IHttpResponseBodyFeature)] = capture;
            features[typeof(IHttpRequestLifetimeFeature)] = this;
            using var leaderGone = clientAborted.UnsafeRegister(static state => ((ResponseCaptureFeature)state!).Detach(), capture);
            await endpoint(context).ConfigureAwait(false);
            await capture.FinishAsync().ConfigureAwait(false);
        }
        catch (Exception exception)
        {
            // Before the response started, the flight shares the failure; after, the followers' streams end with it.
            if (!FailStart(exception))
            {
                _capture?.Captured?.Body?.Fail(exception);
            }

            throw;
        }
        finally
        {
            if (_originalLifetime is not null)
            {
                features[typeof(IHttpResponseBodyFeature)] = originalBody;
                features[typeof(IHttpRequestLifetimeFeature)] = _originalLifetime;
            }
        }
    }
}
