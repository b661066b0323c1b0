using Coordination.SingleFlight;
using Microsoft.AspNetCore.Http;

namespace Coordination.AspNetCore;

/// <summary>
/// How identical concurrent requests are recognised and shared by a single-flight policy.
/// </summary>
/// <remarks>
/// Two requests share one execution when their keys are equal in full: method, scheme, host, path base and path,
/// the query in a canonical order, the <see cref="VaryByHeaders"/>, the precondition and range headers
/// (<c>If-Match</c>, <c>If-None-Match</c>, <c>If-Modified-Since</c>, <c>If-Unmodified-Since</c>, <c>If-Range</c>,
/// <c>Range</c>), the route values and custom values added here, and (unless <see cref="IsSharedAcrossUsers"/>) the user.
/// </remarks>
public sealed class SingleFlightPolicyOptions
{
    /// <summary>Gets the request headers whose values are part of the key.</summary>
    /// <value>The default value is <c>Accept</c>, <c>Accept-Encoding</c> and <c>Accept-Language</c>.</value>
    public IList<string> VaryByHeaders { get; } = ["Accept", "Accept-Encoding", "Accept-Language"];

    /// <summary>Gets or sets the query keys that are part of the key.</summary>
    /// <remarks>Requests that differ only in other query keys share one execution: list every key the endpoint reads.</remarks>
    /// <value>The default value is <see langword="null"/>: the whole query is part of the key.</value>
    public IList<string>? VaryByQueryKeys { get; set; }

    /// <summary>Gets the route values that are part of the key.</summary>
    /// <value>The default value is empty (the path already holds them).</value>
    public IList<string> VaryByRouteValues { get; } = [];

    /// <summary>Gets functions whose results are part of the key, for inputs the endpoint reads from elsewhere (a tenant, a claim).</summary>
    /// <value>The default value is empty.</value>
    public IList<Func<HttpContext, string>> VaryByValues { get; } = [];

    /// <summary>Gets or sets whether requests of different users may share one execution.</summary>
    /// <remarks>When <see langword="false"/>, the key holds the signed-in user's identifying claim (see
    /// <see cref="UserIdClaimType"/>) or, for an unauthenticated request, a SHA-256 hash of its <c>Authorization</c> and
    /// <c>Cookie</c> headers. A signed-in user without that claim is never coalesced, unless <see cref="VaryByValues"/>
    /// says how to tell users apart.</remarks>
    /// <value>The default value is <see langword="false"/>.</value>
    public bool IsSharedAcrossUsers { get; set; }

    /// <summary>Gets or sets the claim type that identifies a signed-in user in the key.</summary>
    /// <remarks>Name it when the authentication scheme identifies users by another claim (a tenant-scoped id, an
    /// API-key owner). It must be unique per user: requests with equal values may share one response.</remarks>
    /// <value>The default value is <see langword="null"/>: <see cref="System.Security.Claims.ClaimTypes.NameIdentifier"/>,
    /// else <c>sub</c>.</value>
    public string? UserIdClaimType { get; set; }

    /// <summary>Gets or sets whether POST requests are coalesced, keyed by a SHA-256 of their body.</summary>
    /// <value>The default value is <see langword="false"/>: only GET and HEAD are coalesced.</value>
    public bool AllowPost { get; set; }

    /// <summary>Gets or sets the largest POST body that is hashed into a key; larger bodies run uncoalesced.</summary>
    /// <value>The default value is 65,536 bytes. Allowed: 0 to 16 MiB.</value>
    public int MaxRequestBodySize { get; set; } = 64 * 1024;

    /// <summary>Gets or sets the most response body bytes held in memory for the followers of one response.</summary>
    /// <remarks>A response that declares a larger <c>Content-Length</c> goes to its leader unchanged and its followers
    /// run the endpoint themselves at once. A body of unknown length streams to the followers whatever its size: past
    /// this many bytes, what every follower has read is released and the endpoint's writes wait for the slowest one.</remarks>
    /// <value>The default value is 1,048,576 bytes (1 MiB). Allowed: 0 to 1 GiB.</value>
    public long MaxResponseBodySize { get; set; } = 1024 * 1024;

    /// <summary>Gets or sets whether each response carries <c>X-SingleFlight: leader|follower|bypass|cached</c>.</summary>
    /// <value>The default value is <see langword="false"/>.</value>
    public bool EmitRoleHeader { get; set; }

    /// <summary>Gets or sets a hard limit on the time from the start of one execution of the endpoint until its response
    /// starts; see <see cref="SingleFlightGroupOptions.Timeout"/>. A response that has started (a stream) is not limited.</summary>
    /// <value>The default value is <see langword="null"/> (no limit).</value>
    public TimeSpan? Timeout { get; set; }

    /// <summary>Gets or sets how many times one flight may promote a follower after its leader ended in cancellation.</summary>
    /// <value>The default value is 3. Allowed: 0 to 1000.</value>
    public int MaxPromotions { get; set; } = 3;

    /// <summary>Gets or sets the most distinct requests in flight at once; past it new requests run uncoalesced.</summary>
    /// <value>The default value is 10,000. Allowed: at least 1, or <see langword="null"/> for unbounded.</value>
    public int? MaxKeys { get; set; } = 10_000;

    /// <summary>Gets or sets how long a shared response is kept after its flight, so that identical requests arriving
    /// just after it are answered without running the endpoint (micro-caching). Set it with <see cref="CacheFor"/>.</summary>
    /// <remarks>Only a response that was shared with followers may be cached, under the same key, and each request that
    /// takes it must match its <c>Vary</c> headers: never across users (unless <see cref="IsSharedAcrossUsers"/>), never
    /// a response with <c>Set-Cookie</c>, <c>Cache-Control: private</c> or <c>no-store</c>. Only complete GET and HEAD
    /// responses with a status below 400 and a body of at most <see cref="MaxResponseBodySize"/> bytes are kept; the
    /// endpoint's own <c>s-maxage</c> or <c>max-age</c> shortens the time, and <c>no-cache</c> prevents it. A request
    /// with <c>Cache-Control: no-cache</c> is never answered from the cache (it may still join a running flight).</remarks>
    /// <value>The default value is <see langword="null"/>: nothing is kept after its flight. Allowed: greater than zero.</value>
    public TimeSpan? CacheDuration { get; set; }

    /// <summary>Gets or sets the most bytes of responses this policy keeps in its cache (see <see cref="CacheDuration"/>).</summary>
    /// <remarks>A response is counted with its body, its headers and its key. When it does not fit, it is not stored
    /// and the cache is compacted in the background (the oldest used entries go first).</remarks>
    /// <value>The default value is 33,554,432 bytes (32 MiB). Allowed: at least 1.</value>
    public long MaxCacheSize { get; set; } = 32 * 1024 * 1024;

    /// <summary>Keeps each shared response for <paramref name="duration"/> after its flight (sets <see cref="CacheDuration"/>):
    /// requests that arrive in that time are answered from memory, with an <c>Age</c> header.</summary>
    /// <param name="duration">How long a response is kept; greater than zero (an invalid value fails at startup).</param>
    /// <returns>These options, for chaining.</returns>
    public SingleFlightPolicyOptions CacheFor(TimeSpan duration)
    {
        CacheDuration = duration;
        return this;
    }

    /// <summary>Keys only by these query keys (replacing the default of the whole query).</summary>
    /// <param name="queryKeys">The query keys the endpoint reads.</param>
    /// <returns>These options, for chaining.</returns>
    public SingleFlightPolicyOptions VaryByQuery(params string[] queryKeys)
    {
        ArgumentNullException.ThrowIfNull(queryKeys);
        VaryByQueryKeys = [.. queryKeys];
        return this;
    }

    /// <summary>Adds request headers to the key.</summary>
    /// <param name="headerNames">The header names.</param>
    /// <returns>These options, for chaining.</returns>
    public SingleFlightPolicyOptions VaryByHeader(params string[] headerNames)
    {
        ArgumentNullException.ThrowIfNull(headerNames);
        foreach (var name in headerNames)
        {
            VaryByHeaders.Add(name);
        }

        return this;
    }

    /// <summary>Adds route values to the key.</summary>
    /// <param name="routeValueNames">The route value names.</param>
    /// <returns>These options, for chaining.</returns>
    public SingleFlightPolicyOptions VaryByRouteValue(params string[] routeValueNames)
    {
        ArgumentNullException.ThrowIfNull(routeValueNames);
        foreach (var name in routeValueNames)
        {
            VaryByRouteValues.Add(name);
        }

        return this;
    }

    /// <summary>Adds a computed value to the key.</summary>
    /// <param name="valueSelector">Returns a value the endpoint's response depends on.</param>
    /// <returns>These options, for chaining.</returns>
    public SingleFlightPolicyOptions VaryByValue(Func<HttpContext, string> valueSelector)
    {
        ArgumentNullException.ThrowIfNull(valueSelector);
        VaryByValues.Add(valueSelector);
        return this;
    }

    /// <summary>Lets requests of different users share one execution (sets <see cref="IsSharedAcrossUsers"/>).</summary>
    /// <returns>These options, for chaining.</returns>
    public SingleFlightPolicyOptions SharedAcrossUsers()
    {
        IsSharedAcrossUsers = true;
        return this;
    }

    internal SingleFlightGroupOptions ToGroupOptions() => new()
    {
        Timeout = Timeout,
        MaxPromotions = MaxPromotions,
        MaxKeys = MaxKeys,

        // The leader's handler must go on while any coalesced client still waits.
        WorkCancellation = SingleFlightWorkCancellation.LastCallerCancels,
    };

    internal IEnumerable<string> Validate(string name)
    {
        foreach (var error in ToGroupOptions().Validate(name))
        {
            yield return error;
        }

        if (MaxRequestBodySize is < 0 or > 16 * 1024 * 1024)
        {
            yield return $"Single-flight '{name}': {nameof(MaxRequestBodySize)} is {MaxRequestBodySize}; allowed 0 to {16 * 1024 * 1024}.";
        }

        if (MaxResponseBodySize is < 0 or > 1024L * 1024 * 1024)
        {
            yield return $"Single-flight '{name}': {nameof(MaxResponseBodySize)} is {MaxResponseBodySize}; allowed 0 to {1024L * 1024 * 1024}.";
        }

        if (CacheDuration is { } cacheDuration && cacheDuration <= TimeSpan.Zero)
        {
            yield return $"Single-flight '{name}': {nameof(CacheDuration)} is {cacheDuration}; allowed greater than zero, or null for no caching.";
        }

        if (MaxCacheSize < 1)
        {
            yield return $"Single-flight '{name}': {nameof(MaxCacheSize)} is {MaxCacheSize}; allowed at least 1 byte.";
        }

        foreach (var header in VaryByHeaders)
        {
            if (string.IsNullOrWhiteSpace(header))
            {
                yield return $"Single-flight '{name}': {nameof(VaryByHeaders)} holds an empty header name.";
            }
        }

        if (VaryByQueryKeys is { } queryKeys && queryKeys.Any(string.IsNullOrWhiteSpace))
        {
            yield return $"Single-flight '{name}': {nameof(VaryByQueryKeys)} holds an empty query key.";
        }

        if (UserIdClaimType is not null && string.IsNullOrWhiteSpace(UserIdClaimType))
        {
            yield return $"Single-flight '{name}': {nameof(UserIdClaimType)} is empty; set a claim type or null for the default.";
        }

        if (VaryByRouteValues.Any(string.IsNullOrWhiteSpace))
        {
            yield return $"Single-flight '{name}': {nameof(VaryByRouteValues)} holds an empty route value name.";
        }
    }
}
