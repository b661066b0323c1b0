using Coordination.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Internal;
using Microsoft.Extensions.Primitives;
using Microsoft.Net.Http.Headers;

namespace Coordination.AspNetCore;

/// <summary>
/// A policy's micro-cache (<see cref="SingleFlightPolicyOptions.CacheDuration"/>): the shared response of a finished
/// flight, kept for a moment under the flight's key, so that identical requests arriving just after the flight are
/// answered without running the endpoint (nginx's <c>proxy_cache_lock</c> with a short <c>proxy_cache_valid</c>).
/// </summary>
/// <remarks>
/// A response is stored only if it was shared with followers (it passed the replay gate when it started), and a stored
/// response is given only to a request its followers would have been: the same key and the same values of the headers
/// the response varies by. So the cache never widens who gets a response; it only lengthens when. The cache lives as
/// long as its policy: the app's services dispose it.
/// </remarks>
internal sealed class SingleFlightResponseCache : IDisposable
{
    // What an entry costs beyond its body and strings: the entry, its arrays and the cache's own bookkeeping.
    private const long EntryOverhead = 256;

    private readonly MemoryCache _entries;
    private readonly TimeSpan _duration;
    private readonly long _maxSize;
    private readonly long _maxBodySize;
    private readonly TimeProvider _time;

    public SingleFlightResponseCache(TimeSpan duration, long maxSize, long maxBodySize, TimeProvider timeProvider)
    {
        _duration = duration;
        _maxSize = maxSize;
        _maxBodySize = maxBodySize;
        _time = timeProvider;
        _entries = new MemoryCache(new MemoryCacheOptions { SizeLimit = maxSize, Clock = new TimeProviderClock(timeProvider) });
    }

    /// <summary>Gets the number of responses kept.</summary>
    public int Count => _entries.Count;

    /// <summary>Answers the request from the cache when an entry for its key is fresh, matches its <c>Vary</c>, and the client accepts it.</summary>
    /// <returns><see langword="true"/> when the request was answered; otherwise it goes on to its flight.</returns>
    public ValueTask<bool> TryServeAsync(HttpContext context, string key, SingleFlightPolicy policy)
    {
        if (!_entries.TryGetValue(key, out CachedResponse? cached))
        {
            return ValueTask.FromResult(false);
        }

        var age = cached!.AgeAt(_time.GetUtcNow());
        if (!ClientAccepts(context.Request, age) || SingleFlightSharingRules.VaryMismatch(context, cached.LeaderVaryValues) is not null)
        {
            return ValueTask.FromResult(false);
        }

        return ServeAsync(context, cached, age, policy);
    }

    /// <summary>Keeps the response a leader's run just finished, when it may be kept; says why at debug level when not.</summary>
    public async ValueTask StoreAsync(HttpContext leader, string key, CapturedResponse captured, SingleFlightPolicy policy)
    {
        var request = leader.Request;
        if (!(HttpMethods.IsGet(request.Method) || HttpMethods.IsHead(request.Method)))
        {
            // POST is coalesced by opt-in while requests are concurrent; a cached answer to it would outlive that.
            return;
        }

        var refusal = Refusal(request, captured, out var lifetime) ?? await KeepAsync(key, captured, lifetime).ConfigureAwait(false);
        if (refusal is not null)
        {
            SingleFlightLog.ResponseNotCached(policy.Logger, policy.Name, request.Path, refusal);
        }
    }

    public void Dispose() => _entries.Dispose();

    /// <summary>Stores a response that may be kept, with its whole body; or says why it does not fit.</summary>
    private async ValueTask<string?> KeepAsync(string key, CapturedResponse captured, TimeSpan lifetime)
    {
        if (await WholeBodyAsync(captured.Body!).ConfigureAwait(false) is not { } body)
        {
            return "its body is larger than MaxResponseBodySize";
        }

        var entry = CachedResponse.Create(captured, body, _time.GetUtcNow());
        var size = entry.EstimatedSize + ((long)key.Length * sizeof(char)) + EntryOverhead;
        if (size > _maxSize)
        {
            return "it is larger than MaxCacheSize";
        }

        // A full cache refuses the entry and compacts itself in the background: the least recently used entries go.
        _entries.Set(key, entry, new MemoryCacheEntryOptions { Size = size, AbsoluteExpirationRelativeToNow = lifetime });
        return null;
    }

    private static async ValueTask<bool> ServeAsync(HttpContext context, CachedResponse cached, TimeSpan age, SingleFlightPolicy policy)
    {
        var response = context.Response;
        response.StatusCode = cached.StatusCode;
        foreach (var (name, value) in cached.Headers)
        {
            response.Headers[name] = value;
        }

        response.Headers.Age = WholeSeconds(age).ToString(System.Globalization.CultureInfo.InvariantCulture);
        if (policy.EmitRoleHeader)
        {
            response.Headers[SingleFlightSharingRules.RoleHeaderName] = SingleFlightMetrics.Cached;
        }

        try
        {
            if (!HttpMethods.IsHead(context.Request.Method))
            {
                foreach (var chunk in cached.Body)
                {
                    await response.Body.WriteAsync(chunk, context.RequestAborted).ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException)
        {
            policy.Metrics.Request(policy.Name, SingleFlightMetrics.Cached, SingleFlightMetrics.Canceled);
            throw;
        }
        catch (Exception exception)
        {
            policy.Metrics.Request(policy.Name, SingleFlightMetrics.Cached, SingleFlightMetrics.Failure, exception);
            throw;
        }

        policy.Metrics.Request(policy.Name, SingleFlightMetrics.Cached, SingleFlightMetrics.Success);
        return true;
    }

    /// <summary>Why a finished response may not be kept, or <see langword="null"/> with how long it may.</summary>
    private string? Refusal(HttpRequest request, CapturedResponse captured, out TimeSpan lifetime)
    {
        lifetime = _duration;
        if (captured.NotSharedReason is { } notShared)
        {
            return notShared;
        }

        if (captured.Body!.End != SharedBodyEnd.Completed)
        {
            return "the response did not complete";
        }

        if (captured.StatusCode is < 200 or >= 400)
        {
            // A client or server error answers one moment: the next request should try again.
            return $"status {captured.StatusCode}";
        }

        if (Directives(request.Headers.CacheControl) is { NoStore: true })
        {
            return "the request said Cache-Control: no-store";
        }

        if (Directives(HeaderOf(captured.Headers, HeaderNames.CacheControl)) is { } cacheControl)
        {
            if (cacheControl.NoCache)
            {
                return "Cache-Control: no-cache";
            }

            // The endpoint's own freshness lifetime shortens the time a response is kept, never lengthens it.
            if ((cacheControl.SharedMaxAge ?? cacheControl.MaxAge) is { } maxAge && maxAge < lifetime)
            {
                lifetime = maxAge;
            }
        }

        return lifetime > TimeSpan.Zero ? null : "its max-age is 0";
    }

    /// <summary>The body from its first byte, or <see langword="null"/> when it is larger than the policy keeps.</summary>
    private async ValueTask<ReadOnlyMemory<byte>[]?> WholeBodyAsync(SharedResponseBody body)
    {
        using var reader = body.Subscribe();
        if (reader is null)
        {
            return null;
        }

        var chunks = new List<ReadOnlyMemory<byte>>();
        long length = 0;
        while (await reader.ReadAsync(CancellationToken.None).ConfigureAwait(false) is { IsEmpty: false } chunk)
        {
            length += chunk.Length;
            if (length > _maxBodySize)
            {
                return null;
            }

            chunks.Add(chunk);
        }

        return [.. chunks];
    }

    /// <summary>
    /// Whether the client takes a cached answer of this age. <c>no-cache</c>, <c>no-store</c> and <c>max-age=0</c> (a
    /// browser's reload), and <c>Pragma: no-cache</c> without <c>Cache-Control</c>, refuse any; <c>max-age=N</c>
    /// refuses one older than N seconds.
    /// </summary>
    private static bool ClientAccepts(HttpRequest request, TimeSpan age)
    {
        var headers = request.Headers;
        if (headers.CacheControl.Count == 0)
        {
            return headers.Pragma.Count == 0 || !headers.Pragma.ToString().Contains("no-cache", StringComparison.OrdinalIgnoreCase);
        }

        if (Directives(headers.CacheControl) is not { } directives)
        {
            return true;
        }

        if (directives.NoCache || directives.NoStore)
        {
            return false;
        }

        return directives.MaxAge is not { } maxAge || (maxAge > TimeSpan.Zero && WholeSeconds(age) <= WholeSeconds(maxAge));
    }

    private static long WholeSeconds(TimeSpan time) => (long)time.TotalSeconds;

    private static CacheControlHeaderValue? Directives(StringValues cacheControl) =>
        cacheControl.Count > 0 && CacheControlHeaderValue.TryParse(cacheControl.ToString(), out var parsed) ? parsed : null;

    private static StringValues HeaderOf(KeyValuePair<string, StringValues>[] headers, string name)
    {
        foreach (var (headerName, value) in headers)
        {
            if (string.Equals(headerName, name, StringComparison.OrdinalIgnoreCase))
            {
                return value;
            }
        }

        return StringValues.Empty;
    }

    /// <summary>A shared response as it is kept: what the followers got, its whole body, and how old it was when stored.</summary>
    private sealed class CachedResponse
    {
        private readonly DateTimeOffset _storedAt;
        private readonly TimeSpan _ageWhenStored;

        private CachedResponse(int statusCode, KeyValuePair<string, StringValues>[] headers, KeyValuePair<string, StringValues>[] leaderVaryValues, ReadOnlyMemory<byte>[] body, DateTimeOffset storedAt, TimeSpan ageWhenStored)
        {
            StatusCode = statusCode;
            Headers = headers;
            LeaderVaryValues = leaderVaryValues;
            Body = body;
            _storedAt = storedAt;
            _ageWhenStored = ageWhenStored;
        }

        public int StatusCode { get; }

        /// <summary>The replayed headers, less <c>Age</c> (it is set on each answer).</summary>
        public KeyValuePair<string, StringValues>[] Headers { get; }

        public KeyValuePair<string, StringValues>[] LeaderVaryValues { get; }

        public ReadOnlyMemory<byte>[] Body { get; }

        /// <summary>Bytes of the body and of the header and vary strings (UTF-16).</summary>
        public long EstimatedSize
        {
            get
            {
                long size = 0;
                foreach (var chunk in Body)
                {
                    size += chunk.Length;
                }

                foreach (var (name, values) in Headers.Concat(LeaderVaryValues))
                {
                    size += name.Length * sizeof(char);
                    foreach (var value in values)
                    {
                        size += (value?.Length ?? 0) * sizeof(char);
                    }
                }

                return size;
            }
        }

        /// <remarks>An <c>Age</c> the endpoint set (it relays a response from a cache upstream) is carried on.</remarks>
        public static CachedResponse Create(CapturedResponse captured, ReadOnlyMemory<byte>[] body, DateTimeOffset now)
        {
            var upstreamAge = long.TryParse(HeaderOf(captured.Headers, HeaderNames.Age).ToString(), out var seconds) && seconds > 0 ? TimeSpan.FromSeconds(seconds) : TimeSpan.Zero;
            var headers = Array.FindAll(captured.Headers, h => !string.Equals(h.Key, HeaderNames.Age, StringComparison.OrdinalIgnoreCase));
            return new(captured.StatusCode, headers, captured.LeaderVaryValues, body, now, upstreamAge);
        }

        public TimeSpan AgeAt(DateTimeOffset now) => _ageWhenStored + (now > _storedAt ? now - _storedAt : TimeSpan.Zero);
    }

    /// <summary>The injected <see cref="TimeProvider"/> as the clock <see cref="MemoryCache"/> expires entries by.</summary>
    private sealed class TimeProviderClock(TimeProvider timeProvider) : ISystemClock
    {
        public DateTimeOffset UtcNow => timeProvider.GetUtcNow();
    }
}
