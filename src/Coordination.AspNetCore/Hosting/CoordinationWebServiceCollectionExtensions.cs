using Microsoft.Extensions.DependencyInjection;

namespace Coordination.AspNetCore;

/// <summary>Registers the coordination primitives and their HTTP face.</summary>
public static class CoordinationWebServiceCollectionExtensions
{
    /// <summary>
    /// Adds the coordination services, their HTTP face (single-flight policies, the startup checks of
    /// <c>[SingleFlight]</c> and <c>.WithSingleFlight()</c>) and registers the named primitives configured in
    /// <paramref name="configure"/>, each as a keyed singleton under its name. May be called more than once.
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configure">Registers primitives on the builder.</param>
    /// <returns>The service collection, for chaining.</returns>
    /// <remarks>Being non-generic, this overload wins over the core's generic one wherever both are in scope.</remarks>
    public static IServiceCollection AddKeyedCoordination(this IServiceCollection services, Action<CoordinationBuilder> configure)
    {
        CoordinationServiceCollectionExtensions.AddKeyedCoordination(services, configure);
        SingleFlightHttpServices.TryAdd(services);
        return services;
    }
}
