using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc.Abstractions;

namespace Coordination.AspNetCore;

/// <summary>
/// Coalesces endpoints that carry single-flight metadata but no wrapper of their own, such as minimal-API
/// handlers marked only with <c>[SingleFlight]</c>.
/// </summary>
internal sealed class SingleFlightMiddleware(RequestDelegate next, SingleFlightPolicyProvider policies)
{
    // Converted once: a method group converted per request would allocate a delegate each time.
    private readonly Func<HttpContext, Task> _endpoint = next.Invoke;

    /// <summary>An endpoint without single-flight costs one metadata lookup and the call to <c>next</c>.</summary>
    public Task InvokeAsync(HttpContext context)
    {
        var endpoint = context.GetEndpoint();
        if (endpoint is null
            || SingleFlightPolicyProvider.EnabledMetadata(endpoint.Metadata) is not { } metadata
            || NeedsNoMiddleware(endpoint.Metadata))
        {
            return next(context);
        }

        return SingleFlightRequestHandler.HandleAsync(context, policies.GetPolicy(metadata, endpoint), _endpoint);
    }

    /// <summary>Wrapped endpoints and MVC actions are coalesced where they run; the middleware leaves them alone.</summary>
    public static bool NeedsNoMiddleware(EndpointMetadataCollection metadata) =>
        metadata.GetMetadata<SingleFlightEndpointWrappedMetadata>() is not null
        || metadata.GetMetadata<ActionDescriptor>() is not null;
}
