using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Coordination.AspNetCore;

/// <summary>
/// Checks every endpoint once the pipeline is built, so an unknown policy name or a missing
/// <c>UseSingleFlight()</c> fails at startup instead of at the first request.
/// </summary>
internal sealed class SingleFlightStartupFilter : IStartupFilter
{
    public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
    {
        next(app);
        var policies = app.ApplicationServices.GetRequiredService<SingleFlightPolicyProvider>();
        var endpoints = app.ApplicationServices.GetService<EndpointDataSource>()?.Endpoints ?? [];
        foreach (var endpoint in endpoints)
        {
            if (SingleFlightPolicyProvider.EnabledMetadata(endpoint.Metadata) is not { } metadata)
            {
                continue;
            }

            // Resolving builds and validates the policy: unknown names and bad options throw here.
            policies.GetPolicy(metadata, endpoint);
            if (!policies.IsMiddlewareRegistered && !SingleFlightMiddleware.NeedsNoMiddleware(endpoint.Metadata))
            {
                throw new InvalidOperationException(
                    $"The endpoint '{endpoint.DisplayName}' asks for single-flight through [SingleFlight], which minimal-API handlers need help with: " +
                    "map it with .WithSingleFlight(), or call app.UseSingleFlight() after UseRouting (and after UseAuthentication).");
            }
        }
    };
}
