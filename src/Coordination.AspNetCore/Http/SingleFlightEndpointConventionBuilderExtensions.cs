using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Coordination.AspNetCore;

/// <summary>Turns single-flight on or off for endpoints and route groups.</summary>
public static class SingleFlightEndpointConventionBuilderExtensions
{
    private static readonly DisableSingleFlightAttribute Disabled = new();

    /// <summary>Coalesces identical concurrent requests to these endpoints under the default policy.</summary>
    /// <typeparam name="TBuilder">The endpoint convention builder type.</typeparam>
    /// <param name="builder">The endpoint or route group.</param>
    /// <returns>The builder, for chaining.</returns>
    public static TBuilder WithSingleFlight<TBuilder>(this TBuilder builder)
        where TBuilder : IEndpointConventionBuilder =>
        builder.WithSingleFlight(new SingleFlightAttribute());

    /// <summary>Coalesces identical concurrent requests to these endpoints under a named policy.</summary>
    /// <typeparam name="TBuilder">The endpoint convention builder type.</typeparam>
    /// <param name="builder">The endpoint or route group.</param>
    /// <param name="policyName">A policy registered with <c>coord.AddSingleFlight(name, ...)</c>; an unknown name fails at startup.</param>
    /// <returns>The builder, for chaining.</returns>
    public static TBuilder WithSingleFlight<TBuilder>(this TBuilder builder, string policyName)
        where TBuilder : IEndpointConventionBuilder =>
        builder.WithSingleFlight(new SingleFlightAttribute(policyName));

    /// <summary>Coalesces identical concurrent requests to these endpoints under a policy of their own.</summary>
    /// <typeparam name="TBuilder">The endpoint convention builder type.</typeparam>
    /// <param name="builder">The endpoint or route group.</param>
    /// <param name="configurePolicy">Configures the policy; invalid values fail at startup.</param>
    /// <returns>The builder, for chaining.</returns>
    public static TBuilder WithSingleFlight<TBuilder>(this TBuilder builder, Action<SingleFlightPolicyOptions> configurePolicy)
        where TBuilder : IEndpointConventionBuilder
    {
        ArgumentNullException.ThrowIfNull(configurePolicy);
        var policy = new SingleFlightPolicyOptions();
        configurePolicy(policy);
        return builder.WithSingleFlight(new InlineSingleFlightMetadata(policy));
    }

    /// <summary>Opts these endpoints out of single-flight, also when a route group or controller opted in.</summary>
    /// <typeparam name="TBuilder">The endpoint convention builder type.</typeparam>
    /// <param name="builder">The endpoint or route group.</param>
    /// <returns>The builder, for chaining.</returns>
    public static TBuilder DisableSingleFlight<TBuilder>(this TBuilder builder)
        where TBuilder : IEndpointConventionBuilder
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Add(endpoint => endpoint.Metadata.Add(Disabled));
        return builder;
    }

    private static TBuilder WithSingleFlight<TBuilder>(this TBuilder builder, ISingleFlightMetadata metadata)
        where TBuilder : IEndpointConventionBuilder
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Add(endpoint => endpoint.Metadata.Add(metadata));

        // Finally runs once all metadata is known, so the most specific opt-in or opt-out decides; endpoints
        // that end up without single-flight keep their own delegate and pay nothing.
        builder.Finally(WrapRequestDelegate);
        return builder;
    }

    private static void WrapRequestDelegate(EndpointBuilder endpoint)
    {
        if (endpoint.RequestDelegate is not { } inner
            || endpoint.Metadata.OfType<SingleFlightEndpointWrappedMetadata>().Any()
            || endpoint.Metadata.OfType<ISingleFlightMetadata>().LastOrDefault() is not { IsEnabled: true } metadata)
        {
            return;
        }

        var policies = SingleFlightHttpServices.PolicyProvider(endpoint.ApplicationServices);
        SingleFlightPolicy? policy = null;
        Func<HttpContext, Task> run = inner.Invoke;
        endpoint.Metadata.Add(SingleFlightEndpointWrappedMetadata.Instance);
        endpoint.RequestDelegate = context =>
        {
            policy ??= policies.GetPolicy(metadata, context.GetEndpoint());
            return SingleFlightRequestHandler.HandleAsync(context, policy, run);
        };
    }
}
