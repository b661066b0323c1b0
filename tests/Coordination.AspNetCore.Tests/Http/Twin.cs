using System.IO.Compression;
using System.Text.Json.Nodes;
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

    /// <summary>Holds the coalesced endpoint's runs at the gate; the uncoalesced twin runs straight through.</summary>
    public static Task HoldUnlessAlone(HttpContext context, Gate gate) =>
        context.Request.Path.Value!.EndsWith(AloneSuffix, StringComparison.Ordinal) ? Task.CompletedTask : gate.PassAsync();

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
        if (coalesced.Content.Headers.ContentType?.MediaType == "application/problem+json")
        {
            // Problem details name the request they answer; everything else must match.
            Assert.Equal(WithoutTraceId(aloneBody), WithoutTraceId(body));
            return;
        }

        if (coalesced.Content.Headers.ContentEncoding.Contains("gzip"))
        {
            // Where a compressor flushes depends on how the body was written, not on what it holds.
            (body, aloneBody) = (Gunzip(body), Gunzip(aloneBody));
        }

        Assert.True(aloneBody.AsSpan().SequenceEqual(body), $"{what}: body of {body.Length} bytes differs from alone's {aloneBody.Length}");
    }

    private static byte[] Gunzip(byte[] compressed)
    {
        using var gzip = new GZipStream(new MemoryStream(compressed), CompressionMode.Decompress);
        using var plain = new MemoryStream();
        gzip.CopyTo(plain);
        return plain.ToArray();
    }

    private static string WithoutTraceId(byte[] problem)
    {
        var json = JsonNode.Parse(problem)!.AsObject();
        Assert.True(json.Remove("traceId"), "problem details carry a traceId");
        return json.ToJsonString();
    }

    private static string Values(HttpResponseMessage response, string header) =>
        response.Headers.TryGetValues(header, out var values) || response.Content.Headers.TryGetValues(header, out values)
            ? string.Join(", ", values)
            : "(none)";
}
