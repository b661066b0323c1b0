using Microsoft.Extensions.DependencyInjection;

namespace Coordination.AspNetCore;

/// <summary>Registers HTTP single-flight policies.</summary>
public static class SingleFlightCoordinationBuilderExtensions
{
    /// <summary>Configures the default HTTP single-flight policy, used by <c>[SingleFlight]</c> and <c>.WithSingleFlight()</c> without a name.</summary>
    /// <param name="builder">The coordination builder.</param>
    /// <param name="configurePolicy">Configures the policy.</param>
    /// <returns>The builder, for chaining.</returns>
    public static CoordinationBuilder AddSingleFlight(this CoordinationBuilder builder, Action<SingleFlightPolicyOptions> configurePolicy)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(configurePolicy);
        builder.Services.Configure(configurePolicy);
        return builder;
    }

    /// <summary>Registers a named HTTP single-flight policy for <c>[SingleFlight("name")]</c> and <c>.WithSingleFlight("name")</c>.</summary>
    /// <param name="builder">The coordination builder.</param>
    /// <param name="name">The policy name; case-sensitive, unique among single-flight policies.</param>
    /// <param name="configurePolicy">Configures the policy; invalid values fail at startup.</param>
    /// <returns>The builder, for chaining.</returns>
    /// <exception cref="ArgumentException">A policy with this name is already registered.</exception>
    public static CoordinationBuilder AddSingleFlight(this CoordinationBuilder builder, string name, Action<SingleFlightPolicyOptions>? configurePolicy = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Registry.Add(SingleFlightPolicyProvider.Kind, name);
        var options = builder.Services.AddOptions<SingleFlightPolicyOptions>(name).ValidateOnStart();
        if (configurePolicy is not null)
        {
            options.Configure(configurePolicy);
        }

        return builder;
    }
}
