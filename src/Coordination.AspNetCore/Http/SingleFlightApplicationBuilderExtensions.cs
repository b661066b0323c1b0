using Microsoft.AspNetCore.Builder;

namespace Coordination.AspNetCore;

/// <summary>Adds the single-flight middleware.</summary>
public static class SingleFlightApplicationBuilderExtensions
{
    /// <summary>
    /// Coalesces endpoints that carry <c>[SingleFlight]</c> but were not mapped with <c>.WithSingleFlight()</c>
    /// (minimal-API handlers marked with the attribute alone). Call it after <c>UseRouting</c>, after authentication.
    /// </summary>
    /// <remarks>Endpoints mapped with <c>.WithSingleFlight()</c> and MVC actions are coalesced without it.</remarks>
    /// <param name="app">The application builder.</param>
    /// <returns>The application builder, for chaining.</returns>
    public static IApplicationBuilder UseSingleFlight(this IApplicationBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var policies = SingleFlightHttpServices.PolicyProvider(app.ApplicationServices);
        policies.IsMiddlewareRegistered = true;
        return app.UseMiddleware<SingleFlightMiddleware>();
    }
}
