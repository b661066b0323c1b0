using System.Buffers;
using System.Security.Claims;
using System.Security.Cryptography;
using Coordination.Ingestion;
using Microsoft.AspNetCore.Http;

namespace Coordination.AspNetCore;

/// <summary>The <c>Idempotency-Key</c> request header (IETF httpapi draft) of an ingestion POST.</summary>
internal static class OrderedIngestionIdempotency
{
    public const string HeaderName = "Idempotency-Key";
    public const string ReplayedHeaderName = "Idempotent-Replayed";
    public const int MaxKeyLength = 255;

    /// <summary>Reads the header: <see langword="null"/> when absent; an error when it is not one key of 1 to
    /// <see cref="MaxKeyLength"/> characters. The draft sends the key as a structured-field string ("…"); a bare token is
    /// accepted too.</summary>
    public static (IdempotentAppend? Append, string? Error) Read(HttpContext context, ReadOnlySequence<byte> body, TimeSpan window)
    {
        if (!context.Request.Headers.TryGetValue(HeaderName, out var values))
        {
            return (null, null);
        }

        var key = values.Count == 1 ? values[0] : null;
        if (key is { Length: >= 2 } && key[0] == '"' && key[^1] == '"')
        {
            key = key[1..^1];
        }

        if (string.IsNullOrEmpty(key) || key.Length > MaxKeyLength)
        {
            return (null, $"The {HeaderName} header must be one key of 1 to {MaxKeyLength} characters.");
        }

        return (new IdempotentAppend(UserScope(context.User), key, Fingerprint(body), window), null);
    }

    /// <summary>Keys of an authenticated user are theirs alone; anonymous requests share one scope per ingestion.</summary>
    private static string? UserScope(ClaimsPrincipal user) =>
        user.Identity?.IsAuthenticated == true ? user.FindFirst(ClaimTypes.NameIdentifier)?.Value ?? user.Identity.Name ?? string.Empty : null;

    /// <summary>SHA-256 of the body's bytes: the same key with a byte-for-byte different body is another request.</summary>
    private static string Fingerprint(ReadOnlySequence<byte> body)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var segment in body)
        {
            hash.AppendData(segment.Span);
        }

        return Convert.ToHexString(hash.GetHashAndReset());
    }
}
