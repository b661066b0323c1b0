using Coordination.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Primitives;
using Microsoft.Net.Http.Headers;

namespace Coordination.AspNetCore;

/// <summary>
/// Coalesces one request under a policy: the leader runs the endpoint while its response is copied, the followers
/// replay that copy, and whoever may not share runs the endpoint itself.
/// </summary>
internal static class SingleFlightRequestHandler
{
    public const string RoleHeaderName = "X-SingleFlight";

    // Headers that belong to one response, not to the resource: each follower's own pipeline produces them.
    private static readonly HashSet<string> PerResponseHeaders = new(StringComparer.OrdinalIgnoreCase)
    {
        HeaderNames.Date,
        HeaderNames.SetCookie,
        HeaderNames.Connection,
        HeaderNames.KeepAlive,
        HeaderNames.TransferEncoding,
        HeaderNames.RetryAfter,
        HeaderNames.RequestId,
        HeaderNames.TraceParent,
        HeaderNames.TraceState,
        "X-Request-Id",
        "X-Correlation-Id",
        "Correlation-Id",
        "Server-Timing",
        RoleHeaderName,
    };

    public static async Task HandleAsync(HttpContext context, SingleFlightPolicy policy, Func<HttpContext, Task> endpoint)
    {
        var (key, bypassReason) = await policy.BuildKeyAsync(context).ConfigureAwait(false);
        if (key is null)
        {
            SingleFlightLog.RequestBypassed(policy.Logger, policy.Name, context.Request.Path, bypassReason!);
            await BypassAsync(context, policy, endpoint).ConfigureAwait(false);
            return;
        }

        // Read before leading: a leader's context reports the flight's shared token from then on, not its client's.
        var clientAborted = context.RequestAborted;
        var request = new CoalescedRequest(context, policy, endpoint);
        CapturedResponse response;
        try
        {
            response = await policy.Group.RunAsync(key, request, static (r, token) => r.LeadAsync(token), clientAborted).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (clientAborted.IsCancellationRequested)
        {
            // This client is gone. If its context still runs the endpoint for others, keep the context alive until it ends.
            if (request.Execution is { } execution)
            {
                await execution.ContinueWith(static _ => { }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default).ConfigureAwait(false);
            }

            return;
        }
        catch (Exception) when (request.Execution is { } execution)
        {
            // The flight let go of this request (its Timeout passed) while the endpoint may still run on this context:
            // the context must outlive the endpoint, and this request answers the way its own endpoint run does.
            await execution.ConfigureAwait(false);
            return;
        }

        if (request.Execution is not null)
        {
            // This request led: its response already went to its own client.
            return;
        }

        var refusal = response.NotSharedReason ?? VaryMismatch(context, response);
        if (refusal is not null)
        {
            SingleFlightLog.ResponseNotShared(policy.Logger, policy.Name, context.Request.Path, refusal);
            await BypassAsync(context, policy, endpoint).ConfigureAwait(false);
            return;
        }

        await ReplayAsync(context, policy, response).ConfigureAwait(false);
    }

    private static async Task BypassAsync(HttpContext context, SingleFlightPolicy policy, Func<HttpContext, Task> endpoint)
    {
        if (policy.EmitRoleHeader)
        {
            context.Response.Headers[RoleHeaderName] = "bypass";
        }

        try
        {
            await endpoint(context).ConfigureAwait(false);
            policy.Metrics.Request(policy.Name, SingleFlightMetrics.Bypass, SingleFlightMetrics.Success);
        }
        catch (Exception exception)
        {
            policy.Metrics.Request(policy.Name, SingleFlightMetrics.Bypass, SingleFlightMetrics.Failure, exception);
            throw;
        }
    }

    private static async Task ReplayAsync(HttpContext context, SingleFlightPolicy policy, CapturedResponse captured)
    {
        var response = context.Response;
        response.StatusCode = captured.StatusCode;
        foreach (var (name, value) in captured.Headers)
        {
            response.Headers[name] = value;
        }

        if (policy.EmitRoleHeader)
        {
            response.Headers[RoleHeaderName] = "follower";
        }

        if (!captured.Body.IsEmpty && !HttpMethods.IsHead(context.Request.Method))
        {
            await response.Body.WriteAsync(captured.Body, context.RequestAborted).ConfigureAwait(false);
        }
    }

    private static string? VaryMismatch(HttpContext context, CapturedResponse captured)
    {
        foreach (var (name, leaderValue) in captured.LeaderVaryValues)
        {
            if (!StringValues.Equals(leaderValue, context.Request.Headers[name]))
            {
                return $"Vary: {name} differs";
            }
        }

        return null;
    }

    /// <summary>Why the leader's response may not be replayed, or <see langword="null"/> when it may.</summary>
    private static string? ShareRefusal(HttpResponse response, ResponseCaptureStream capture, bool aborted)
    {
        if (aborted)
        {
            return "the response was aborted";
        }

        if (capture.Overflowed)
        {
            return "the body is larger than MaxResponseBodySize";
        }

        if (response.ContentLength is { } declared && declared != capture.Length64)
        {
            return "the body is shorter or longer than its Content-Length";
        }

        var headers = response.Headers;
        if (headers.SetCookie.Count > 0)
        {
            return "Set-Cookie";
        }

        if (CacheControlHeaderValue.TryParse(headers.CacheControl.ToString(), out var cacheControl) && (cacheControl.Private || cacheControl.NoStore))
        {
            return "Cache-Control: private or no-store";
        }

        foreach (var vary in headers.Vary)
        {
            if (vary is not null && vary.Split(',').Any(v => v.Trim() == "*"))
            {
                return "Vary: *";
            }
        }

        return null;
    }

    private static KeyValuePair<string, StringValues>[] VaryValues(HttpContext context, SingleFlightPolicy policy)
    {
        var values = new List<KeyValuePair<string, StringValues>>();
        foreach (var vary in context.Response.Headers.Vary)
        {
            foreach (var name in (vary ?? string.Empty).Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                if (!policy.IsKeyedByHeader(name))
                {
                    values.Add(new(name, context.Request.Headers[name]));
                }
            }
        }

        return [.. values];
    }

    /// <summary>One request's part in a flight; runs the endpoint when this request leads.</summary>
    private sealed class CoalescedRequest(HttpContext context, SingleFlightPolicy policy, Func<HttpContext, Task> endpoint)
    {
        /// <summary>The endpoint's run on this request's context, when this request led.</summary>
        public Task? Execution { get; private set; }

        public Task<CapturedResponse> LeadAsync(CancellationToken sharedAborted)
        {
            var execution = CaptureAsync(sharedAborted);
            Execution = execution;
            return execution;
        }

        private async Task<CapturedResponse> CaptureAsync(CancellationToken sharedAborted)
        {
            var features = context.Features;
            var originalBody = features.GetRequiredFeature<IHttpResponseBodyFeature>();
            var originalLifetime = features.GetRequiredFeature<IHttpRequestLifetimeFeature>();
            var capture = new ResponseCaptureStream(originalBody.Stream, policy.MaxResponseBodySize);
            var captureBody = new StreamResponseBodyFeature(capture, originalBody);
            var lifetime = new SharedRequestLifetimeFeature(originalLifetime, sharedAborted);
            var headersBefore = context.Response.Headers.ToDictionary(StringComparer.OrdinalIgnoreCase);
            if (policy.EmitRoleHeader)
            {
                context.Response.Headers[RoleHeaderName] = "leader";
            }

            features.Set<IHttpResponseBodyFeature>(captureBody);
            features.Set<IHttpRequestLifetimeFeature>(lifetime);
            try
            {
                await endpoint(context).ConfigureAwait(false);
                await captureBody.CompleteAsync().ConfigureAwait(false);
            }
            finally
            {
                features.Set(originalBody);
                features.Set(originalLifetime);
            }

            var refusal = ShareRefusal(context.Response, capture, lifetime.AbortCalled);
            if (refusal is not null)
            {
                return CapturedResponse.NotShared(refusal);
            }

            var headers = new List<KeyValuePair<string, StringValues>>(context.Response.Headers.Count);
            foreach (var (name, value) in context.Response.Headers)
            {
                var setBefore = headersBefore.TryGetValue(name, out var before) && StringValues.Equals(before, value);
                if (!setBefore && !PerResponseHeaders.Contains(name) && !IsPerResponseFamily(name))
                {
                    headers.Add(new(name, value));
                }
            }

            return CapturedResponse.Shared(context.Response.StatusCode, [.. headers], capture.Captured, VaryValues(context, policy));
        }

        private static bool IsPerResponseFamily(string name) =>
            name.StartsWith("Access-Control-", StringComparison.OrdinalIgnoreCase)
            || name.StartsWith("RateLimit", StringComparison.OrdinalIgnoreCase)
            || name.StartsWith("X-RateLimit", StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>The leader's view of its request lifetime: aborted only when every coalesced client has gone.</summary>
    private sealed class SharedRequestLifetimeFeature(IHttpRequestLifetimeFeature inner, CancellationToken sharedAborted) : IHttpRequestLifetimeFeature
    {
        public bool AbortCalled { get; private set; }

        public CancellationToken RequestAborted
        {
            get => sharedAborted;
            set => throw new NotSupportedException("The request-aborted token of a coalesced request is shared by every client of the flight and cannot be replaced.");
        }

        public void Abort()
        {
            AbortCalled = true;
            inner.Abort();
        }
    }
}
