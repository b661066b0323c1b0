using Coordination.Diagnostics;
using Coordination.SingleFlight;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Coordination.AspNetCore;

/// <summary>Registers single-flight groups.</summary>
public static class SingleFlightGroupCoordinationBuilderExtensions
{
    /// <summary>
    /// Registers a named <see cref="SingleFlightGroup{TKey, TValue}"/> as a keyed singleton, with metrics and logs under its name:
    /// inject it with <c>[FromKeyedServices("name")] SingleFlightGroup&lt;TKey, TValue&gt;</c>.
    /// </summary>
    /// <typeparam name="TKey">The key type.</typeparam>
    /// <typeparam name="TValue">The result type.</typeparam>
    /// <param name="builder">The coordination builder.</param>
    /// <param name="name">The group name; case-sensitive, unique among single-flight groups.</param>
    /// <param name="configure">Configures the group; invalid values fail at startup.</param>
    /// <returns>The builder, for chaining.</returns>
    /// <exception cref="ArgumentException">A group with this name is already registered.</exception>
    public static CoordinationBuilder AddSingleFlightGroup<TKey, TValue>(this CoordinationBuilder builder, string name, Action<SingleFlightGroupOptions>? configure = null)
        where TKey : notnull
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Registry.Add("single-flight group", name);
        var options = builder.Services.AddOptions<SingleFlightGroupOptions>(name).ValidateOnStart();
        if (configure is not null)
        {
            options.Configure(configure);
        }

        builder.Services.AddKeyedSingleton(name, static (services, key) =>
        {
            var groupName = (string)key!;
            return new SingleFlightGroup<TKey, TValue>(
                groupName,
                services.GetRequiredService<IOptionsMonitor<SingleFlightGroupOptions>>().Get(groupName),
                comparer: null,
                services.GetRequiredService<TimeProvider>(),
                services.GetRequiredService<SingleFlightMetrics>(),
                services.GetRequiredService<ILoggerFactory>().CreateLogger("Coordination.AspNetCore.SingleFlight"));
        });
        return builder;
    }
}
