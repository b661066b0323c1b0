using Coordination.AspNetCore;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace Coordination.Tests.Http;

/// <summary>
/// The key builder reads a query already in canonical form without parsing it (both ways must give one key), and
/// refuses requests that must run uncoalesced.
/// </summary>
public sealed class SingleFlightKeyBuilderTests
{
    private readonly SingleFlightKeyBuilder _builder = new(new SingleFlightPolicyOptions());

    [Theory]
    [InlineData("?a=1&b=2", "?b=2&a=1")]
    [InlineData("?a=1&b=2", "?B=2&A=1")]
    [InlineData("?id=42", "?ID=42")]
    [InlineData("?a=&b=x", "?b=x&a=")]
    [InlineData("?a=1&b=2&", "?b=2&&a=1")]
    [InlineData("?a_b=1&ab=2", "?ab=2&a_b=1")]
    [InlineData("?ab=2&a_b=1", "?a_b=1&ab=2")]
    [InlineData("?a=x%20y", "?a=x+y")]
    [InlineData("?a=x%20y", "?a=x y")]
    public async Task EquivalentQueries_GiveOneKey(string query, string equivalent) =>
        Assert.Equal(await KeyOf(query), await KeyOf(equivalent));

    [Theory]
    [InlineData("?a=1&b=2", "?a=1&b=3")]
    [InlineData("?a=1&a=2", "?a=2&a=1")]
    [InlineData("?a=1", "?a=1&a=1")]
    [InlineData("?a=1;b", "?a=1&b")]
    [InlineData("?a=1", "")]
    [InlineData("?a=1", "?A=1&a=1")]
    public async Task DifferentQueries_GiveDifferentKeys(string query, string other) =>
        Assert.NotEqual(await KeyOf(query), await KeyOf(other));

    [Theory]
    [InlineData(65_533)]
    [InlineData(65_534)]
    [InlineData(65_535)]
    [InlineData(70_000)]
    public async Task LongValues_AreKeyedWhole(int length)
    {
        var value = new string('a', length);
        Assert.NotEqual(await KeyOf($"?a={value}"), await KeyOf($"?a={value}a"));
        Assert.NotEqual(await KeyOf($"?a={value}"), await KeyOf($"?a={value}&b="));
    }

    [Fact]
    public async Task AnAbsentHeader_AndAnEmptyOne_GiveDifferentKeys()
    {
        var absent = await KeyOf("?a=1");
        var empty = await KeyOf("?a=1", context => context.Request.Headers.Accept = "");
        var twoValues = await KeyOf("?a=1", context => context.Request.Headers.Accept = new(["", ""]));
        Assert.Equal(3, new[] { absent, empty, twoValues }.Distinct().Count());
    }

    [Fact]
    public async Task AnUpgradeRequest_RunsUncoalesced()
    {
        var context = NewContext("?a=1");
        context.Features.Set<IHttpUpgradeFeature>(new UpgradeFeature());
        Assert.Equal((null, "upgrade"), await _builder.BuildAsync(context));
    }

    [Fact]
    public async Task AnExtendedConnectRequest_RunsUncoalesced()
    {
        // HTTP/2 WebSockets (RFC 8441): a CONNECT request with a :protocol, refused by its method alone.
        var context = NewContext("?a=1");
        context.Request.Method = HttpMethods.Connect;
        context.Features.Set<IHttpExtendedConnectFeature>(new ExtendedConnectFeature());
        Assert.Equal((null, "method"), await _builder.BuildAsync(context));
    }

    private static DefaultHttpContext NewContext(string query)
    {
        var context = new DefaultHttpContext();
        context.Request.Method = HttpMethods.Get;
        context.Request.Scheme = "http";
        context.Request.Host = new HostString("example.test");
        context.Request.Path = "/items";
        context.Request.QueryString = new QueryString(query);
        return context;
    }

    private async Task<string?> KeyOf(string query, Action<HttpContext>? configure = null)
    {
        var context = NewContext(query);
        configure?.Invoke(context);
        var (key, reason) = await _builder.BuildAsync(context);
        Assert.Null(reason);
        return key;
    }

    private sealed class UpgradeFeature : IHttpUpgradeFeature
    {
        public bool IsUpgradableRequest => true;

        public Task<Stream> UpgradeAsync() => throw new NotSupportedException();
    }

    private sealed class ExtendedConnectFeature : IHttpExtendedConnectFeature
    {
        public bool IsExtendedConnect => true;

        public string? Protocol => "websocket";

        public ValueTask<Stream> AcceptAsync() => throw new NotSupportedException();
    }
}
