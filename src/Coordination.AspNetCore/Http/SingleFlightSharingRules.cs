using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;
using Microsoft.Net.Http.Headers;

namespace Coordination.AspNetCore;

/// <summary>
/// What of a leader's response may go to its followers: the replay gate, applied once when the response starts, the
/// headers that are replayed, and the per-follower <c>Vary</c> check.
/// </summary>
internal static class SingleFlightSharingRules
{
    public const string RoleHeaderName = "X-SingleFlight";

    // Headers that belong to one response, not to the resource: each follower's own pipeline produces them.
    private static readonly HashSet<string> PerResponseHeaders = new(StringComparer.OrdinalIgnoreCase)
    {
        HeaderNames.Date,
        HeaderNames.SetCookie,
        HeaderNames.Connection,
        HeaderNames.KeepAlive,
        HeaderNames.TransferEncoding,
        HeaderNames.RetryAfter,
        HeaderNames.RequestId,
        HeaderNames.TraceParent,
        HeaderNames.TraceState,
        "X-Request-Id",
        "X-Correlation-Id",
        "Correlation-Id",
        "Server-Timing",
        RoleHeaderName,
    };

    /// <summary>Why a response that is starting may not be shared, or <see langword="null"/> when it may.</summary>
    public static string? Refusal(HttpResponse response, long maxBodySize, bool aborted)
    {
        if (aborted)
        {
            return "the response was aborted";
        }

        if (response.ContentLength > maxBodySize)
        {
            return "its Content-Length is larger than MaxResponseBodySize";
        }

        var headers = response.Headers;
        if (headers.SetCookie.Count > 0)
        {
            return "Set-Cookie";
        }

        if (CacheControlHeaderValue.TryParse(headers.CacheControl.ToString(), out var cacheControl) && (cacheControl.Private || cacheControl.NoStore))
        {
            return "Cache-Control: private or no-store";
        }

        foreach (var vary in headers.Vary)
        {
            if (vary is not null && vary.Split(',').Any(v => v.Trim() == "*"))
            {
                return "Vary: *";
            }
        }

        return null;
    }

    /// <summary>The headers the endpoint set, less those each follower's own pipeline produces.</summary>
    public static KeyValuePair<string, StringValues>[] ReplayedHeaders(IHeaderDictionary headers, Dictionary<string, StringValues>? setBeforeTheEndpoint)
    {
        var replayed = new List<KeyValuePair<string, StringValues>>(headers.Count);
        foreach (var (name, value) in headers)
        {
            var setBefore = setBeforeTheEndpoint is not null && setBeforeTheEndpoint.TryGetValue(name, out var before) && StringValues.Equals(before, value);
            if (!setBefore && !PerResponseHeaders.Contains(name) && !IsPerResponseFamily(name))
            {
                replayed.Add(new(name, value));
            }
        }

        return [.. replayed];
    }

    /// <summary>
    /// The leader's values of the request headers the endpoint's response varies by, beyond those in the key. A
    /// <c>Vary</c> set by outer middleware before the endpoint ran (CORS: <c>Origin</c>) concerns that middleware's
    /// own headers, which each follower's pipeline produces for itself.
    /// </summary>
    public static KeyValuePair<string, StringValues>[] VaryValues(HttpContext context, SingleFlightPolicy policy, Dictionary<string, StringValues>? setBeforeTheEndpoint)
    {
        var outerVary = setBeforeTheEndpoint is not null && setBeforeTheEndpoint.TryGetValue(HeaderNames.Vary, out var before) ? Names(before) : [];
        var values = new List<KeyValuePair<string, StringValues>>();
        foreach (var name in Names(context.Response.Headers.Vary))
        {
            if (!policy.IsKeyedByHeader(name) && !outerVary.Contains(name, StringComparer.OrdinalIgnoreCase))
            {
                values.Add(new(name, context.Request.Headers[name]));
            }
        }

        return [.. values];

        static string[] Names(StringValues vary) =>
            [.. vary.SelectMany(v => (v ?? string.Empty).Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))];
    }

    /// <summary>Why this follower may not take the leader's response, or <see langword="null"/> when it may.</summary>
    public static string? VaryMismatch(HttpContext follower, CapturedResponse captured) => VaryMismatch(follower, captured.LeaderVaryValues);

    /// <summary>Why this request may not take a response with these leader's <c>Vary</c> values, or <see langword="null"/> when it may.</summary>
    public static string? VaryMismatch(HttpContext follower, KeyValuePair<string, StringValues>[] leaderVaryValues)
    {
        foreach (var (name, leaderValue) in leaderVaryValues)
        {
            if (!StringValues.Equals(leaderValue, follower.Request.Headers[name]))
            {
                return $"Vary: {name} differs";
            }
        }

        return null;
    }

    private static bool IsPerResponseFamily(string name) =>
        name.StartsWith("Access-Control-", StringComparison.OrdinalIgnoreCase)
        || name.StartsWith("RateLimit", StringComparison.OrdinalIgnoreCase)
        || name.StartsWith("X-RateLimit", StringComparison.OrdinalIgnoreCase);
}
