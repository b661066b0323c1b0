using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using Coordination.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Coordination.AspNetCore;

/// <summary>Builds and caches the run-time policies: named ones once each, inline ones once per endpoint.</summary>
internal sealed class SingleFlightPolicyProvider(
    IOptionsMonitor<SingleFlightPolicyOptions> options,
    CoordinationRegistry registry,
    TimeProvider timeProvider,
    SingleFlightMetrics metrics,
    ILoggerFactory loggerFactory) : IDisposable
{
    public const string Kind = "single-flight policy";
    public const string DefaultPolicyName = "default";

    private readonly ConcurrentDictionary<string, SingleFlightPolicy> _named = new(StringComparer.Ordinal);
    private readonly ConditionalWeakTable<ISingleFlightMetadata, SingleFlightPolicy> _inline = [];
    private readonly ILogger _logger = loggerFactory.CreateLogger("Coordination.AspNetCore.SingleFlight");

    public bool IsMiddlewareRegistered { get; set; }

    /// <summary>The effective single-flight metadata of an endpoint, or <see langword="null"/> when it has none or opts out.</summary>
    public static ISingleFlightMetadata? EnabledMetadata(EndpointMetadataCollection metadata) =>
        metadata.GetMetadata<ISingleFlightMetadata>() is { IsEnabled: true } enabled ? enabled : null;

    /// <summary>The policy of an endpoint's metadata; every request of a middleware-coalesced endpoint asks, so a
    /// policy already built costs a lookup and nothing more (the building paths, with their closures, run once).</summary>
    public SingleFlightPolicy GetPolicy(ISingleFlightMetadata metadata, Endpoint? endpoint)
    {
        if (metadata.InlinePolicy is not { } inline)
        {
            return GetNamedPolicy(metadata.PolicyName);
        }

        return _inline.TryGetValue(metadata, out var policy) ? policy : CreateInlinePolicy(metadata, inline, endpoint);
    }

    /// <summary>The named (or, for <see langword="null"/>, the default) policy.</summary>
    public SingleFlightPolicy GetNamedPolicy(string? name) =>
        _named.TryGetValue(name ?? DefaultPolicyName, out var policy) ? policy : CreateNamedPolicy(name);

    private SingleFlightPolicy CreateInlinePolicy(ISingleFlightMetadata metadata, SingleFlightPolicyOptions inline, Endpoint? endpoint) =>
        _inline.GetValue(metadata, _ => Create(InlineName(endpoint), inline));

    private SingleFlightPolicy CreateNamedPolicy(string? name)
    {
        if (name is not null && !registry.Contains(Kind, name))
        {
            var known = registry.Names(Kind);
            throw new InvalidOperationException(
                $"The single-flight policy '{name}' is not registered. Register it with coord.AddSingleFlight(\"{name}\", ...) in AddKeyedCoordination. Registered policies: {(known.Count == 0 ? "none" : string.Join(", ", known))}.");
        }

        var policyName = name ?? DefaultPolicyName;
        return _named.GetOrAdd(policyName, _ => Create(policyName, options.Get(name ?? Options.DefaultName)));
    }

    /// <summary>Disposes what the policies hold (their caches) with the app's services.</summary>
    public void Dispose()
    {
        foreach (var policy in _named.Values)
        {
            policy.Dispose();
        }

        foreach (var (_, policy) in _inline)
        {
            policy.Dispose();
        }
    }

    private SingleFlightPolicy Create(string name, SingleFlightPolicyOptions policyOptions) =>
        new(name, policyOptions, timeProvider, metrics, _logger);

    private static string InlineName(Endpoint? endpoint) =>
        endpoint is RouteEndpoint { RoutePattern.RawText: { } pattern } ? pattern : endpoint?.DisplayName ?? "endpoint";
}
