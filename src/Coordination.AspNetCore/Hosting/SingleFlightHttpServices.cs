using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Coordination.AspNetCore;

/// <summary>The services of the HTTP single-flight face, on top of what <c>AddKeyedCoordination</c> registers.</summary>
internal static class SingleFlightHttpServices
{
    public static void TryAdd(IServiceCollection services)
    {
        services.TryAddSingleton<SingleFlightPolicyProvider>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton(OptionsValidation.Validator<SingleFlightPolicyOptions>(static (options, name) => options.Validate(name))));
        services.TryAddEnumerable(ServiceDescriptor.Transient<IStartupFilter, SingleFlightStartupFilter>());

        // The default single-flight policy is always there and is checked at startup like a named one.
        services.AddOptions<SingleFlightPolicyOptions>().ValidateOnStart();
    }

    /// <summary>The policy provider, or a clear error when the app never called <c>AddKeyedCoordination</c>.</summary>
    public static SingleFlightPolicyProvider PolicyProvider(IServiceProvider services) =>
        services.GetService<SingleFlightPolicyProvider>()
        ?? throw new InvalidOperationException("Single-flight needs its services: call builder.Services.AddKeyedCoordination(...) in Program.cs.");
}
