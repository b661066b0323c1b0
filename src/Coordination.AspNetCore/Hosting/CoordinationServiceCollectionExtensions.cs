using Coordination.Diagnostics;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;

namespace Coordination.AspNetCore;

/// <summary>Registers Coordination.AspNetCore.</summary>
public static class CoordinationServiceCollectionExtensions
{
    /// <summary>
    /// Adds the coordination services and registers the named primitives configured in <paramref name="configure"/>,
    /// each as a keyed singleton under its name. May be called more than once.
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configure">Registers primitives on the builder.</param>
    /// <returns>The service collection, for chaining.</returns>
    public static IServiceCollection AddKeyedCoordination(this IServiceCollection services, Action<CoordinationBuilder> configure)
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
        services.TryAddSingleton<SingleFlightPolicyProvider>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton(OptionsValidation.Validator<SingleFlightPolicyOptions>(static (options, name) => options.Validate(name))));
        services.TryAddEnumerable(ServiceDescriptor.Singleton(OptionsValidation.Validator<Coordination.SingleFlight.SingleFlightGroupOptions>(static (options, name) => options.Validate(name))));
        services.TryAddEnumerable(ServiceDescriptor.Transient<IStartupFilter, SingleFlightStartupFilter>());

        // One hosted service starts and stops every hosted primitive, in dependency order whatever the registration order.
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, CoordinationLifetime>());

        // The default single-flight policy is always there and is checked at startup like a named one.
        services.AddOptions<SingleFlightPolicyOptions>().ValidateOnStart();

        configure(new CoordinationBuilder(services, registry));
        return services;
    }
}
