using Coordination.Diagnostics;
using Coordination.SingleFlight;
using Microsoft.AspNetCore.Http;

namespace Coordination.AspNetCore;

/// <summary>
/// The flow of one request under a policy: it runs uncoalesced, leads (runs the endpoint for the flight), or follows
/// (streams the leader's response, or runs the endpoint itself when that response may not be shared with it).
/// </summary>
internal static class SingleFlightRequestHandler
{
    public static async Task HandleAsync(HttpContext context, SingleFlightPolicy policy, Func<HttpContext, Task> endpoint)
    {
        var (key, bypassReason) = await policy.BuildKeyAsync(context).ConfigureAwait(false);
        if (key is null)
        {
            SingleFlightLog.RequestBypassed(policy.Logger, policy.Name, context.Request.Path, bypassReason!);
            await BypassAsync(context, policy, endpoint).ConfigureAwait(false);
            return;
        }

        if (policy.Cache is { } cache && await cache.TryServeAsync(context, key, policy).ConfigureAwait(false))
        {
            return;
        }

        // Read before leading: a leader's context reports the flight's shared token from then on, not its client's.
        var clientAborted = context.RequestAborted;
        var request = new SingleFlightLeader(context, policy, endpoint, clientAborted);
        CapturedResponse? response = null;
        try
        {
            response = await policy.Group.RunAsync(key, request, clientAborted).ConfigureAwait(false);
        }
        catch (Exception) when (request.Execution is not null)
        {
            // This request leads, and the flight ended without a response to share: the endpoint failed before its
            // response started or was cancelled, or (with the policy's Timeout, which gives the leader a waiter) the
            // Timeout passed or its client left. Its own answer is the endpoint's run, awaited below.
        }

        if (request.Execution is not null)
        {
            // The endpoint runs on this context until its body ends, so the context must outlive it.
            await request.Execution.ConfigureAwait(false);
            request.ThrowIfClientLeft();
            if (response is not null && policy.Cache is not null)
            {
                await policy.Cache.StoreAsync(context, key, response, policy).ConfigureAwait(false);
            }

            return;
        }

        var refusal = response!.NotSharedReason ?? SingleFlightSharingRules.VaryMismatch(context, response);
        var reader = refusal is null ? response!.Body!.Subscribe() : null;
        if (reader is null)
        {
            SingleFlightLog.ResponseNotShared(policy.Logger, policy.Name, context.Request.Path, refusal ?? "the shared body had moved past its start");
            await BypassAsync(context, policy, endpoint).ConfigureAwait(false);
            return;
        }

        using (reader)
        {
            await FollowAsync(context, policy, response, reader).ConfigureAwait(false);
        }
    }

    private static async Task BypassAsync(HttpContext context, SingleFlightPolicy policy, Func<HttpContext, Task> endpoint)
    {
        if (policy.EmitRoleHeader)
        {
            context.Response.Headers[SingleFlightSharingRules.RoleHeaderName] = "bypass";
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

    /// <summary>Streams the leader's response to this follower as the endpoint writes it, and ends it the same way.</summary>
    private static async Task FollowAsync(HttpContext context, SingleFlightPolicy policy, CapturedResponse captured, SharedResponseBody.Reader reader)
    {
        var response = context.Response;
        response.StatusCode = captured.StatusCode;
        foreach (var (name, value) in captured.Headers)
        {
            response.Headers[name] = value;
        }

        if (policy.EmitRoleHeader)
        {
            response.Headers[SingleFlightSharingRules.RoleHeaderName] = "follower";
        }

        // A body of declared length is whole once that many bytes are read: the follower ends there instead of
        // waking once more for the leader's end (in a herd, one wake-up less for every follower).
        var writesBody = !HttpMethods.IsHead(context.Request.Method);
        var declaredLength = writesBody ? response.ContentLength : null;
        while (await reader.ReadAsync(context.RequestAborted).ConfigureAwait(false) is { IsEmpty: false } bytes)
        {
            if (writesBody)
            {
                await response.Body.WriteAsync(bytes, context.RequestAborted).ConfigureAwait(false);
            }

            if (reader.Position == declaredLength)
            {
                return;
            }
        }

        var body = captured.Body!;
        switch (body.End)
        {
            case SharedBodyEnd.Failed:
                throw new SingleFlightLeaderFailedException("The shared response failed after it had started.", body.Failure!);
            case SharedBodyEnd.Aborted:
                context.Abort();
                break;
            case SharedBodyEnd.Completed when body.CompletedEarly:
                await response.CompleteAsync().ConfigureAwait(false);
                break;
        }
    }
}
