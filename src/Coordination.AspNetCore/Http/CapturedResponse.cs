using Microsoft.Extensions.Primitives;

namespace Coordination.AspNetCore;

/// <summary>The leader's response as its followers receive it, or the reason it must not be shared.</summary>
internal sealed class CapturedResponse
{
    private CapturedResponse(int statusCode, KeyValuePair<string, StringValues>[] headers, ReadOnlyMemory<byte> body, KeyValuePair<string, StringValues>[] leaderVaryValues, string? notSharedReason)
    {
        StatusCode = statusCode;
        Headers = headers;
        Body = body;
        LeaderVaryValues = leaderVaryValues;
        NotSharedReason = notSharedReason;
    }

    public int StatusCode { get; }

    public KeyValuePair<string, StringValues>[] Headers { get; }

    public ReadOnlyMemory<byte> Body { get; }

    /// <summary>The leader's request values of the headers the response varies by (beyond those in the key).</summary>
    public KeyValuePair<string, StringValues>[] LeaderVaryValues { get; }

    /// <summary>Why followers must run the endpoint themselves; <see langword="null"/> when the response is shared.</summary>
    public string? NotSharedReason { get; }

    public static CapturedResponse Shared(int statusCode, KeyValuePair<string, StringValues>[] headers, ReadOnlyMemory<byte> body, KeyValuePair<string, StringValues>[] leaderVaryValues) =>
        new(statusCode, headers, body, leaderVaryValues, null);

    public static CapturedResponse NotShared(string reason) => new(0, [], ReadOnlyMemory<byte>.Empty, [], reason);
}
