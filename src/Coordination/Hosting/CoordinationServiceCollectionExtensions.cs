using Coordination.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;

namespace Coordination.AspNetCore;

/// <summary>Registers the coordination primitives.</summary>
public static class CoordinationServiceCollectionExtensions
{
    /// <summary>
    /// Adds the coordination services and registers the named primitives configured in <paramref name="configure"/>,
    /// each as a keyed singleton under its name. May be called more than once.
    /// </summary>
    /// <typeparam name="TServices">The service collection's type.</typeparam>
    /// <param name="services">The service collection.</param>
    /// <param name="configure">Registers primitives on the builder.</param>
    /// <returns>The service collection, for chaining.</returns>
    /// <remarks>Generic on purpose: in an app that references Coordination.AspNetCore, the compiler prefers that
    /// assembly's non-generic <c>AddKeyedCoordination</c> on an <see cref="IServiceCollection"/>, which calls this one and
    /// registers the HTTP face too — so a web app and a worker service write the same single call.</remarks>
    public static TServices AddKeyedCoordination<TServices>(this TServices services, Action<CoordinationBuilder> configure)
        where TServices : IServiceCollection
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);

        var registry = services.FirstOrDefault(d => d.ServiceType == typeof(CoordinationRegistry))?.ImplementationInstance as CoordinationRegistry;
        if (registry is null)
        {
            registry = new CoordinationRegistry();
            services.AddSingleton(registry);
        }

        services.AddMetrics();
        services.AddLogging();
        services.AddOptions();
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<SingleFlightMetrics>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton(OptionsValidation.Validator<Coordination.SingleFlight.SingleFlightGroupOptions>(static (options, name) => options.Validate(name))));

        // One hosted service starts and stops every hosted primitive, in dependency order whatever the registration order.
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, CoordinationLifetime>());

        configure(new CoordinationBuilder(services, registry));
        return services;
    }
}
