using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Coordination.Tests.Http;

/// <summary>
/// One handler mapped twice: at <c>path</c> with single-flight and at <c>path + "/alone"</c> without, so a test can
/// compare what a coalesced client receives with what the same request gets from the endpoint alone.
/// </summary>
internal static class Twin
{
    public const string AloneSuffix = "/alone";

    /// <summary>Maps the handler twice; returns the coalesced endpoint's builder for its single-flight convention.</summary>
    public static RouteHandlerBuilder Map(IEndpointRouteBuilder map, string path, Delegate handler)
    {
        map.MapGet(path + AloneSuffix, handler);
        return map.MapGet(path, handler);
    }

    /// <summary>Whether this request is the uncoalesced twin's (which the tests do not hold at their gates).</summary>
    public static bool IsAlone(HttpContext context) => context.Request.Path.Value!.EndsWith(AloneSuffix, StringComparison.Ordinal);

    /// <summary>Asserts that the coalesced response is the one the endpoint gives alone: status, representation headers, body.</summary>
    public static async Task AssertSameAsAloneAsync(HttpResponseMessage coalesced, HttpResponseMessage alone, string what)
    {
        Assert.True(alone.StatusCode == coalesced.StatusCode, $"{what}: status {(int)coalesced.StatusCode}, alone {(int)alone.StatusCode}");
        foreach (var header in new[] { "Content-Range", "Content-Length", "Content-Encoding", "Content-Type", "ETag", "Vary" })
        {
            Assert.True(Values(alone, header) == Values(coalesced, header), $"{what}: {header} '{Values(coalesced, header)}', alone '{Values(alone, header)}'");
        }

        var body = await coalesced.Content.ReadAsByteArrayAsync();
        var aloneBody = await alone.Content.ReadAsByteArrayAsync();
        Assert.True(aloneBody.AsSpan().SequenceEqual(body), $"{what}: body of {body.Length} bytes differs from alone's {aloneBody.Length}");
    }

    private static string Values(HttpResponseMessage response, string header) =>
        response.Headers.TryGetValues(header, out var values) || response.Content.Headers.TryGetValues(header, out values)
            ? string.Join(", ", values)
            : "(none)";
}
