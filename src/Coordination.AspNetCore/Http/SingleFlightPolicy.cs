using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using Coordination.Diagnostics;
using Coordination.SingleFlight;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using Microsoft.Net.Http.Headers;

namespace Coordination.AspNetCore;

/// <summary>A validated policy at run time: its key rules and the group that coalesces its requests.</summary>
internal sealed class SingleFlightPolicy : IDisposable
{
    /// <summary>The JWT subject claim, as it arrives when inbound claims are not mapped.</summary>
    private const string SubjectClaimType = "sub";

    /// <summary>
    /// Request headers that turn one representation into another answer (304, 412, 206 and its bytes): a request
    /// shares only with requests that ask exactly the same, so nobody gets a 304 or a 206 they did not ask for.
    /// </summary>
    private static readonly string[] ConditionalHeaders =
    [
        HeaderNames.IfMatch,
        HeaderNames.IfNoneMatch,
        HeaderNames.IfModifiedSince,
        HeaderNames.IfUnmodifiedSince,
        HeaderNames.IfRange,
        HeaderNames.Range,
    ];

    private readonly string[] _varyByHeaders;
    private readonly string[]? _varyByQueryKeys;
    private readonly string[] _varyByRouteValues;
    private readonly Func<HttpContext, string>[] _varyByValues;
    private readonly string? _userIdClaimType;

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
        _varyByHeaders = [.. options.VaryByHeaders.Distinct(StringComparer.OrdinalIgnoreCase).Order(StringComparer.OrdinalIgnoreCase)];
        _varyByQueryKeys = options.VaryByQueryKeys is { } keys ? [.. keys.Distinct(StringComparer.OrdinalIgnoreCase).Order(StringComparer.OrdinalIgnoreCase)] : null;
        _varyByRouteValues = [.. options.VaryByRouteValues.Distinct(StringComparer.OrdinalIgnoreCase).Order(StringComparer.OrdinalIgnoreCase)];
        _varyByValues = [.. options.VaryByValues];
        _userIdClaimType = options.UserIdClaimType;
        IsSharedAcrossUsers = options.IsSharedAcrossUsers;
        AllowPost = options.AllowPost;
        MaxRequestBodySize = options.MaxRequestBodySize;
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

    public bool IsSharedAcrossUsers { get; }

    public bool AllowPost { get; }

    public int MaxRequestBodySize { get; }

    public long MaxResponseBodySize { get; }

    public bool EmitRoleHeader { get; }

    public void Dispose() => Cache?.Dispose();

    /// <summary>Whether a header is part of every key, so a <c>Vary</c> on it always matches.</summary>
    /// <remarks><c>Authorization</c> and <c>Cookie</c> are not: a signed-in user's key holds only the user's id, so a
    /// <c>Vary</c> on them is checked against each follower's own values.</remarks>
    public bool IsKeyedByHeader(string headerName) =>
        Array.Exists(_varyByHeaders, h => string.Equals(h, headerName, StringComparison.OrdinalIgnoreCase));

    /// <summary>Builds the key of a request, or returns <see langword="null"/> with a reason when it must run uncoalesced.</summary>
    public async ValueTask<(string? Key, string? BypassReason)> BuildKeyAsync(HttpContext context)
    {
        var request = context.Request;
        var isPost = HttpMethods.IsPost(request.Method);
        if (!(HttpMethods.IsGet(request.Method) || HttpMethods.IsHead(request.Method) || (isPost && AllowPost)))
        {
            return (null, "method");
        }

        if (context.Features.Get<IHttpUpgradeFeature>() is { IsUpgradableRequest: true }
            || context.Features.Get<IHttpExtendedConnectFeature>() is { IsExtendedConnect: true })
        {
            return (null, "upgrade");
        }

        var key = new StringBuilder(256);
        Append(key, request.Method);
        Append(key, request.Scheme);
        Append(key, request.Host.Value?.ToLowerInvariant());
        Append(key, request.PathBase.Value);
        Append(key, request.Path.Value);
        AppendQuery(key, request.Query);

        foreach (var header in _varyByHeaders)
        {
            key.Append('H');
            Append(key, header);
            AppendValues(key, request.Headers[header]);
        }

        foreach (var header in ConditionalHeaders)
        {
            key.Append('C');
            AppendValues(key, request.Headers[header]);
        }

        foreach (var routeValue in _varyByRouteValues)
        {
            key.Append('R');
            Append(key, routeValue);
            Append(key, Convert.ToString(request.RouteValues[routeValue], System.Globalization.CultureInfo.InvariantCulture));
        }

        foreach (var selector in _varyByValues)
        {
            key.Append('V');
            Append(key, selector(context));
        }

        if (!IsSharedAcrossUsers)
        {
            if (UserOf(context) is not { } user)
            {
                return (null, "the signed-in user has no identifying claim");
            }

            key.Append('U');
            Append(key, user);
        }

        if (isPost)
        {
            var bodyHash = await HashBodyAsync(context).ConfigureAwait(false);
            if (bodyHash is null)
            {
                return (null, "request body too large");
            }

            key.Append('B');
            Append(key, request.ContentType);
            Append(key, bodyHash);
        }

        return (key.ToString(), null);
    }

    /// <summary>
    /// The user part of the key, or <see langword="null"/> when a signed-in user cannot be told apart from others:
    /// such a request is never shared (fail closed) unless the policy's own values identify the user.
    /// </summary>
    private string? UserOf(HttpContext context)
    {
        var user = context.User;
        if (user.Identities.Any(identity => identity.IsAuthenticated))
        {
            var id = _userIdClaimType is { } claimType
                ? user.FindFirst(claimType)?.Value
                : user.FindFirst(ClaimTypes.NameIdentifier)?.Value ?? user.FindFirst(SubjectClaimType)?.Value;
            if (!string.IsNullOrEmpty(id))
            {
                return "id:" + id;
            }

            // A name or an e-mail address is not a stable identifier: two accounts may share one.
            return _varyByValues.Length > 0 ? "unidentified" : null;
        }

        var authorization = context.Request.Headers.Authorization;
        var cookie = context.Request.Headers.Cookie;
        if (authorization.Count == 0 && cookie.Count == 0)
        {
            return "anonymous";
        }

        // The credentials themselves never enter the key; their hash tells users apart.
        var material = Encoding.UTF8.GetBytes($"{authorization}\n{cookie}");
        return "h:" + Convert.ToHexString(SHA256.HashData(material));
    }

    private async ValueTask<string?> HashBodyAsync(HttpContext context)
    {
        var request = context.Request;
        if (request.ContentLength > MaxRequestBodySize)
        {
            return null;
        }

        request.EnableBuffering(MaxRequestBodySize + 1);
        var buffer = new byte[MaxRequestBodySize + 1];
        var read = 0;
        int count;
        while (read < buffer.Length && (count = await request.Body.ReadAsync(buffer.AsMemory(read), context.RequestAborted).ConfigureAwait(false)) > 0)
        {
            read += count;
        }

        request.Body.Position = 0;
        return read > MaxRequestBodySize ? null : Convert.ToHexString(SHA256.HashData(buffer.AsSpan(0, read)));
    }

    private void AppendQuery(StringBuilder key, IQueryCollection query)
    {
        key.Append('Q');
        if (_varyByQueryKeys is { } selected)
        {
            foreach (var name in selected)
            {
                Append(key, name.ToLowerInvariant());
                AppendValues(key, query[name]);
            }

            return;
        }

        // Canonical order: keys sorted (query keys are case-insensitive), values kept in request order.
        foreach (var name in query.Keys.Order(StringComparer.OrdinalIgnoreCase))
        {
            Append(key, name.ToLowerInvariant());
            AppendValues(key, query[name]);
        }
    }

    private static void AppendValues(StringBuilder key, Microsoft.Extensions.Primitives.StringValues values)
    {
        key.Append(values.Count).Append('#');
        foreach (var value in values)
        {
            Append(key, value);
        }
    }

    /// <summary>Length-prefixed, so no value can forge a delimiter and two different requests can never share a key.</summary>
    private static void Append(StringBuilder key, string? value)
    {
        if (value is null)
        {
            key.Append("-;");
            return;
        }

        key.Append(value.Length).Append(':').Append(value).Append(';');
    }
}
