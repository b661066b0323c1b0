using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.Filters;

namespace Coordination.AspNetCore;

/// <summary>
/// Coalesces an MVC action from the outermost resource filter, so model binding, the action and the result all
/// run inside the shared execution; <c>[SingleFlight]</c> alone is enough on controllers.
/// </summary>
internal sealed class SingleFlightResourceFilter(SingleFlightAttribute attribute, SingleFlightPolicyProvider policies) : IAsyncResourceFilter
{
    public async Task OnResourceExecutionAsync(ResourceExecutingContext context, ResourceExecutionDelegate next)
    {
        var endpoint = context.HttpContext.GetEndpoint();

        // Only the most specific single-flight metadata acts, and never twice for one request.
        if (endpoint is null
            || !ReferenceEquals(SingleFlightPolicyProvider.EnabledMetadata(endpoint.Metadata), attribute)
            || endpoint.Metadata.GetMetadata<SingleFlightEndpointWrappedMetadata>() is not null)
        {
            await next().ConfigureAwait(false);
            return;
        }

        var policy = policies.GetPolicy(attribute, endpoint);
        var ranPipeline = false;
        try
        {
            await SingleFlightRequestHandler.HandleAsync(context.HttpContext, policy, async _ =>
            {
                ranPipeline = true;
                var executed = await next().ConfigureAwait(false);
                if (executed.Exception is { } exception && !executed.ExceptionHandled)
                {
                    // Fail the shared execution so followers learn of it; MVC rethrows it for this request itself.
                    throw new MvcActionFailedException(exception);
                }
            }).ConfigureAwait(false);
        }
        catch (MvcActionFailedException) when (ranPipeline)
        {
            // MVC rethrows the action's own exception from its executed context, as it would without coalescing.
        }

        if (!ranPipeline)
        {
            // The response was replayed from the leader; nothing else may write.
            context.Result = new EmptyResult();
        }
    }

    /// <summary>Carries an action's unhandled exception out of the shared execution to the followers.</summary>
    private sealed class MvcActionFailedException(Exception exception) : Exception(exception.Message, exception);
}
