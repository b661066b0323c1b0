using Microsoft.Extensions.Primitives;

namespace Coordination.AspNetCore;

/// <summary>
/// The leader's response as its followers receive it, decided when the response starts: its status, the headers the
/// endpoint set and the body as it is written; or the reason it must not be shared.
/// </summary>
internal sealed class CapturedResponse
{
    private CapturedResponse(int statusCode, KeyValuePair<string, StringValues>[] headers, KeyValuePair<string, StringValues>[] leaderVaryValues, SharedResponseBody? body, string? notSharedReason)
    {
        StatusCode = statusCode;
        Headers = headers;
        LeaderVaryValues = leaderVaryValues;
        Body = body;
        NotSharedReason = notSharedReason;
    }

    public int StatusCode { get; }

    public KeyValuePair<string, StringValues>[] Headers { get; }

    /// <summary>The leader's request values of the headers the response varies by (beyond those in the key).</summary>
    public KeyValuePair<string, StringValues>[] LeaderVaryValues { get; }

    /// <summary>The body as the endpoint writes it; <see langword="null"/> when the response is not shared.</summary>
    public SharedResponseBody? Body { get; }

    /// <summary>Why followers must run the endpoint themselves; <see langword="null"/> when the response is shared.</summary>
    public string? NotSharedReason { get; }

    public static CapturedResponse Shared(int statusCode, KeyValuePair<string, StringValues>[] headers, KeyValuePair<string, StringValues>[] leaderVaryValues, SharedResponseBody body) =>
        new(statusCode, headers, leaderVaryValues, body, null);

    /// <summary>The response of a flight no follower joined before it started: its leader's alone, nothing is kept.</summary>
    public static CapturedResponse Alone { get; } = NotShared("no follower joined before it started");

    public static CapturedResponse NotShared(string reason) => new(0, [], [], null, reason);
}
