using System.Globalization;
using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.Features.Authentication;

namespace Coordination.AspNetCore;

/// <summary>
/// Builds the key of a request under a policy: identical keys share a flight. Every request of a single-flight
/// endpoint pays for it, so a GET builds its key synchronously in a reused per-thread buffer.
/// </summary>
internal sealed class SingleFlightKeyBuilder
{
    /// <summary>The JWT subject claim, as it arrives when inbound claims are not mapped.</summary>
    private const string SubjectClaimType = "sub";

    [ThreadStatic]
    private static char[]? t_buffer;

    private readonly string[] _varyByHeaders;
    private readonly string[]? _varyByQueryKeys;
    private readonly string[] _varyByRouteValues;
    private readonly Func<HttpContext, string>[] _varyByValues;
    private readonly string? _userIdClaimType;
    private readonly bool _isSharedAcrossUsers;
    private readonly bool _allowPost;
    private readonly int _maxRequestBodySize;

    public SingleFlightKeyBuilder(SingleFlightPolicyOptions options)
    {
        _varyByHeaders = [.. options.VaryByHeaders.Distinct(StringComparer.OrdinalIgnoreCase).Order(StringComparer.OrdinalIgnoreCase)];
        _varyByQueryKeys = options.VaryByQueryKeys is { } keys ? [.. keys.Distinct(StringComparer.OrdinalIgnoreCase).Order(StringComparer.OrdinalIgnoreCase).Select(k => k.ToLowerInvariant())] : null;
        _varyByRouteValues = [.. options.VaryByRouteValues.Distinct(StringComparer.OrdinalIgnoreCase).Order(StringComparer.OrdinalIgnoreCase)];
        _varyByValues = [.. options.VaryByValues];
        _userIdClaimType = options.UserIdClaimType;
        _isSharedAcrossUsers = options.IsSharedAcrossUsers;
        _allowPost = options.AllowPost;
        _maxRequestBodySize = options.MaxRequestBodySize;
    }

    /// <summary>Whether a header is part of every key, so a <c>Vary</c> on it always matches.</summary>
    public bool IsKeyedByHeader(string headerName) =>
        Array.Exists(_varyByHeaders, h => string.Equals(h, headerName, StringComparison.OrdinalIgnoreCase));

    /// <summary>Builds the key of a request, or returns <see langword="null"/> with a reason when it must run uncoalesced.</summary>
    public ValueTask<(string? Key, string? BypassReason)> BuildAsync(HttpContext context)
    {
        var method = context.Request.Method;
        var isPost = HttpMethods.IsPost(method);
        if (!(HttpMethods.IsGet(method) || HttpMethods.IsHead(method) || (isPost && _allowPost)))
        {
            return new((null, "method"));
        }

        // Read through the indexer: Get<T>() is a generic virtual call, several times its cost. (HTTP/2's extended
        // CONNECT, the other way to open a WebSocket, is a CONNECT request: the method check above refused it.)
        if (context.Features[typeof(IHttpUpgradeFeature)] is IHttpUpgradeFeature { IsUpgradableRequest: true })
        {
            return new((null, "upgrade"));
        }

        string? user = null;
        if (!_isSharedAcrossUsers && (user = UserOf(context)) is null)
        {
            return new((null, "the signed-in user has no identifying claim"));
        }

        return isPost ? BuildPostAsync(context, user) : new((Build(context, user, body: null), null));
    }

    private async ValueTask<(string? Key, string? BypassReason)> BuildPostAsync(HttpContext context, string? user)
    {
        var bodyHash = await HashBodyAsync(context).ConfigureAwait(false);
        return bodyHash is null ? (null, "request body too large") : (Build(context, user, bodyHash), null);
    }

    /// <summary>The key: every part length-prefixed, so no value can forge a delimiter and two different requests never share one.</summary>
    private string Build(HttpContext context, string? user, string? body)
    {
        var key = new SingleFlightKeyWriter(t_buffer ?? new char[256]);
        t_buffer = null;
        var request = context.Request;
        key.Append(request.Method);
        key.Append(request.Scheme);
        // The Host header as sent, not HttpRequest.Host, which parses it on every read: two spellings of one host (an
        // IDN in punycode and in Unicode) only make two keys, never one key for two hosts.
        var headers = request.Headers;
        key.AppendLowerCase(headers.Host);
        key.Append(request.PathBase.Value);
        key.Append(request.Path.Value);
        AppendQuery(ref key, request);

        // The policy's header names are the same in every key: their values, in the policy's order, are enough.
        foreach (var header in _varyByHeaders)
        {
            key.Append('H');
            key.Append(headers[header]);
        }

        // Headers that turn one representation into another answer (304, 412, 206 and its bytes): a request shares
        // only with requests that ask exactly the same, so nobody gets a 304 or a 206 they did not ask for.
        key.Append('C');
        key.Append(headers.IfMatch);
        key.Append(headers.IfNoneMatch);
        key.Append(headers.IfModifiedSince);
        key.Append(headers.IfUnmodifiedSince);
        key.Append(headers.IfRange);
        key.Append(headers.Range);

        foreach (var routeValue in _varyByRouteValues)
        {
            key.Append('R');
            key.Append(routeValue);
            key.Append(Convert.ToString(request.RouteValues[routeValue], CultureInfo.InvariantCulture));
        }

        foreach (var selector in _varyByValues)
        {
            key.Append('V');
            key.Append(selector(context));
        }

        if (user is not null)
        {
            key.Append('U');
            key.Append(user);
        }

        if (body is not null)
        {
            key.Append('B');
            key.Append(request.ContentType);
            key.Append(body);
        }

        var built = key.ToString();

        // Keep the buffer for this thread's next request; a huge one goes back to the GC.
        t_buffer = key.Buffer.Length <= 4096 ? key.Buffer : null;
        return built;
    }

    /// <summary>
    /// The user part of the key, or <see langword="null"/> when a signed-in user cannot be told apart from others:
    /// such a request is never shared (fail closed) unless the policy's own values identify the user.
    /// </summary>
    private string? UserOf(HttpContext context)
    {
        // Read through the feature: HttpContext.User creates an anonymous principal on every request that has none.
        var user = (context.Features[typeof(IHttpAuthenticationFeature)] as IHttpAuthenticationFeature)?.User;
        if (user is not null && IsAuthenticated(user))
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

    private static bool IsAuthenticated(ClaimsPrincipal user)
    {
        foreach (var identity in user.Identities)
        {
            if (identity.IsAuthenticated)
            {
                return true;
            }
        }

        return false;
    }

    private async ValueTask<string?> HashBodyAsync(HttpContext context)
    {
        var request = context.Request;
        if (request.ContentLength > _maxRequestBodySize)
        {
            return null;
        }

        request.EnableBuffering(_maxRequestBodySize + 1);
        var buffer = new byte[_maxRequestBodySize + 1];
        var read = 0;
        int count;
        while (read < buffer.Length && (count = await request.Body.ReadAsync(buffer.AsMemory(read), context.RequestAborted).ConfigureAwait(false)) > 0)
        {
            read += count;
        }

        request.Body.Position = 0;
        return read > _maxRequestBodySize ? null : Convert.ToHexString(SHA256.HashData(buffer.AsSpan(0, read)));
    }

    private void AppendQuery(ref SingleFlightKeyWriter key, HttpRequest request)
    {
        // Every part of a key has a known length, so two keys are equal only if all their parts are: the query's
        // names are counted first.
        key.Append('Q');
        if (_varyByQueryKeys is { } selected)
        {
            key.AppendLength(selected.Length);
            var query = request.Query;
            foreach (var name in selected)
            {
                key.Append(name);
                key.Append(query[name]);
            }

            return;
        }

        var raw = request.QueryString.Value;
        if (string.IsNullOrEmpty(raw))
        {
            key.AppendLength(0);
            return;
        }

        if (TryAppendCanonicalQuery(ref key, raw))
        {
            return;
        }

        // Canonical order: keys sorted (query keys are case-insensitive), values kept in request order.
        var all = request.Query;
        var names = new string[all.Count];
        all.Keys.CopyTo(names, 0);
        Array.Sort(names, StringComparer.OrdinalIgnoreCase);
        key.AppendLength(names.Length);
        foreach (var name in names)
        {
            key.AppendLowerCase(name);
            key.Append(all[name]);
        }
    }

    /// <summary>
    /// Appends a query string that is already in canonical form as the parsed query would be appended, without
    /// parsing it: plain <c>name=value</c> pairs, names lower-case, unique and sorted, nothing escaped. Anything else
    /// returns <see langword="false"/> with nothing appended, and the query is parsed.
    /// </summary>
    private static bool TryAppendCanonicalQuery(ref SingleFlightKeyWriter key, string raw)
    {
        var query = raw.AsSpan(raw[0] == '?' ? 1 : 0);
        var previous = ReadOnlySpan<char>.Empty;
        var pairs = 0;
        for (var rest = query; !rest.IsEmpty;)
        {
            var end = rest.IndexOf('&');
            var pair = end < 0 ? rest : rest[..end];
            rest = end < 0 ? [] : rest[(end + 1)..];
            var equals = pair.IndexOf('=');
            if (equals <= 0
                || !IsPlain(pair[..equals], name: true)
                || !IsPlain(pair[(equals + 1)..], name: false)
                || (!previous.IsEmpty && previous.CompareTo(pair[..equals], StringComparison.OrdinalIgnoreCase) >= 0))
            {
                return false;
            }

            previous = pair[..equals];
            pairs++;
        }

        if (pairs == 0)
        {
            return false;
        }

        key.AppendLength(pairs);
        for (var rest = query; !rest.IsEmpty;)
        {
            var end = rest.IndexOf('&');
            var pair = end < 0 ? rest : rest[..end];
            rest = end < 0 ? [] : rest[(end + 1)..];
            var equals = pair.IndexOf('=');
            key.Append(pair[..equals]);

            // What the parsed query gives for this name: one value.
            key.AppendLength(1);
            key.Append(pair[(equals + 1)..]);
        }

        return true;

        static bool IsPlain(ReadOnlySpan<char> part, bool name)
        {
            foreach (var c in part)
            {
                if (c is < ' ' or > '~' or '%' or '+' or '=' || (name && char.IsAsciiLetterUpper(c)))
                {
                    return false;
                }
            }

            return true;
        }
    }
}
