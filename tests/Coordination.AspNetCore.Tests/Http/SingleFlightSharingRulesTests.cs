using Coordination.AspNetCore;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;

namespace Coordination.Tests.Http;

/// <summary>The replay gate and the replayed headers, case by case.</summary>
public sealed class SingleFlightSharingRulesTests
{
    [Theory]
    [InlineData(null, null, null)]
    [InlineData("Cache-Control", "public, max-age=60", null)]
    [InlineData("Cache-Control", "private", "Cache-Control: private or no-store")]
    [InlineData("Cache-Control", "max-age=0, no-store", "Cache-Control: private or no-store")]
    [InlineData("Set-Cookie", "session=1", "Set-Cookie")]
    [InlineData("Vary", "Accept, *", "Vary: *")]
    [InlineData("Vary", "X-Tenant", null)]
    [InlineData("Content-Length", "100", null)]
    [InlineData("Content-Length", "101", "its Content-Length is larger than MaxResponseBodySize")]
    public void Refusal_NamesWhyAStartingResponseIsNotShared(string? header, string? value, string? expected)
    {
        var response = new DefaultHttpContext().Response;
        if (header is not null)
        {
            response.Headers[header] = value;
        }

        Assert.Equal(expected, SingleFlightSharingRules.Refusal(response, maxBodySize: 100, aborted: false));
    }

    [Fact]
    public void Refusal_AnAbortedResponseIsNeverShared()
    {
        var response = new DefaultHttpContext().Response;

        Assert.Equal("the response was aborted", SingleFlightSharingRules.Refusal(response, maxBodySize: 100, aborted: true));
    }

    [Theory]
    [InlineData("Content-Type", true)]
    [InlineData("ETag", true)]
    [InlineData("Vary", true)]
    [InlineData("Date", false)]
    [InlineData("Set-Cookie", false)]
    [InlineData("Access-Control-Allow-Origin", false)]
    [InlineData("RateLimit-Remaining", false)]
    [InlineData("X-RateLimit-Remaining", false)]
    [InlineData("X-Request-Id", false)]
    [InlineData("traceparent", false)]
    [InlineData("X-SingleFlight", false)]
    public void ReplayedHeaders_KeepTheResourcesHeaders_NotThoseOfOneResponse(string header, bool replayed)
    {
        var headers = new HeaderDictionary { [header] = "endpoint" };

        var result = SingleFlightSharingRules.ReplayedHeaders(headers, new Dictionary<string, StringValues>(StringComparer.OrdinalIgnoreCase));

        Assert.Equal(replayed, result.Any(h => h.Key == header));
    }

    [Fact]
    public void ReplayedHeaders_LeaveOutWhatOuterMiddlewareSetBeforeTheEndpoint_UnlessTheEndpointChangedIt()
    {
        var headers = new HeaderDictionary { ["X-Outer"] = "outer", ["X-Changed"] = "by endpoint" };
        var before = new Dictionary<string, StringValues>(StringComparer.OrdinalIgnoreCase) { ["X-Outer"] = "outer", ["X-Changed"] = "outer" };

        var result = SingleFlightSharingRules.ReplayedHeaders(headers, before);

        Assert.Equal("X-Changed", Assert.Single(result).Key);
    }
}
