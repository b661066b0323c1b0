using Coordination.Diagnostics;
using Coordination.SingleFlight;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Coordination.AspNetCore;

/// <summary>A validated policy at run time: its key rules and the group that coalesces its requests.</summary>
internal sealed class SingleFlightPolicy : IDisposable
{
    private readonly SingleFlightKeyBuilder _keyBuilder;

    public SingleFlightPolicy(
        string name,
        SingleFlightPolicyOptions options,
        TimeProvider timeProvider,
        SingleFlightMetrics metrics,
        ILogger logger)
    {
        var errors = options.Validate(name).ToList();
        if (errors.Count > 0)
        {
            // Inline policies are validated when their endpoint is built, at startup.
            throw new InvalidOperationException(string.Join(Environment.NewLine, errors));
        }

        Name = name;
        Logger = logger;
        Metrics = metrics;
        _keyBuilder = new SingleFlightKeyBuilder(options);
        MaxResponseBodySize = options.MaxResponseBodySize;
        EmitRoleHeader = options.EmitRoleHeader;
        Group = new SingleFlightGroup<string, CapturedResponse>(name, options.ToGroupOptions(), StringComparer.Ordinal, timeProvider, metrics, logger);
        Cache = options.CacheDuration is { } cacheDuration
            ? new SingleFlightResponseCache(cacheDuration, options.MaxCacheSize, options.MaxResponseBodySize, timeProvider)
            : null;
    }

    public string Name { get; }

    public ILogger Logger { get; }

    public SingleFlightMetrics Metrics { get; }

    public SingleFlightGroup<string, CapturedResponse> Group { get; }

    /// <summary>The responses kept after their flights, when the policy sets <see cref="SingleFlightPolicyOptions.CacheDuration"/>.</summary>
    public SingleFlightResponseCache? Cache { get; }

    public long MaxResponseBodySize { get; }

    public bool EmitRoleHeader { get; }

    public void Dispose() => Cache?.Dispose();

    /// <summary>Whether a header is part of every key, so a <c>Vary</c> on it always matches.</summary>
    /// <remarks><c>Authorization</c> and <c>Cookie</c> are not: a signed-in user's key holds only the user's id, so a
    /// <c>Vary</c> on them is checked against each follower's own values.</remarks>
    public bool IsKeyedByHeader(string headerName) => _keyBuilder.IsKeyedByHeader(headerName);

    /// <summary>Builds the key of a request, or returns <see langword="null"/> with a reason when it must run uncoalesced.</summary>
    public ValueTask<(string? Key, string? BypassReason)> BuildKeyAsync(HttpContext context) => _keyBuilder.BuildAsync(context);
}
