using Microsoft.Extensions.DependencyInjection;

namespace Coordination.AspNetCore;

/// <summary>Registers named coordination primitives; handed to the callback of <c>AddKeyedCoordination</c>.</summary>
/// <remarks>Every named primitive is a keyed singleton under its name. Names are case-sensitive ordinal and unique
/// per kind of primitive.</remarks>
public sealed class CoordinationBuilder
{
    internal CoordinationBuilder(IServiceCollection services, CoordinationRegistry registry)
    {
        Services = services;
        Registry = registry;
    }

    /// <summary>Gets the service collection the primitives are registered in.</summary>
    public IServiceCollection Services { get; }

    internal CoordinationRegistry Registry { get; }
}
