using System.Buffers;
using Coordination.AspNetCore;
using Coordination.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;

namespace Coordination.Tests.Http;

/// <summary>Keys are found by their hash, and a hash never decides alone what a request receives.</summary>
public sealed class SingleFlightKeyTests
{
    [Fact]
    public void TheSameCharacters_HaveTheSameHash_AndMatchTheirString()
    {
        var first = Key("GET|/items?id=1");
        var second = Key("GET|/items?id=1");
        var other = Key("GET|/items?id=2");
        try
        {
            Assert.Equal(first.Hash, second.Hash);
            Assert.NotEqual(first.Hash, other.Hash);
            Assert.True(first.Matches("GET|/items?id=1"));
            Assert.False(first.Matches("GET|/items?id=2"));
            Assert.False(first.Matches(null));
            Assert.Equal("GET|/items?id=1", first.ToString());
        }
        finally
        {
            first.Release();
            second.Release();
            other.Release();
        }
    }

    [Fact]
    public void AFollower_RefusesTheResponseOfAnotherKeyWithTheSameHash()
    {
        var mine = Key("mine", hash: 42);
        var captured = CapturedResponse.Shared("theirs", 200, [], [], new SharedResponseBody(1024, () => { }));

        Assert.Equal("it answers another key of the same hash", SingleFlightSharingRules.FollowerRefusal(new DefaultHttpContext(), mine, captured));
        Assert.Null(SingleFlightSharingRules.FollowerRefusal(new DefaultHttpContext(), mine, CapturedResponse.Shared("mine", 200, [], [], new SharedResponseBody(1024, () => { }))));
        mine.Release();
    }

    [Fact]
    public async Task TheCache_AnswersOnlyTheKeyAResponseWasStoredUnder_NotAnotherOfTheSameHash()
    {
        await using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var options = new SingleFlightPolicyOptions().CacheFor(TimeSpan.FromMinutes(1));
        using var policy = new SingleFlightPolicy("p", options, TimeProvider.System, new SingleFlightMetrics(services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>()), NullLogger.Instance);
        var body = new SharedResponseBody(1024, () => { });
        var captured = CapturedResponse.Shared("mine", 200, [], [], body);
        await body.AppendAsync("kept"u8.ToArray());
        body.Complete(early: false);
        await policy.Cache!.StoreAsync(Get(), keyHash: 42, captured, policy);
        Assert.Equal(1, policy.Cache.Count);

        var theirs = Key("theirs", hash: 42);
        var mine = Key("mine", hash: 42);
        var theirRequest = Get();
        var myRequest = Get();

        Assert.False(await policy.Cache.TryServeAsync(theirRequest, theirs, policy));
        Assert.True(await policy.Cache.TryServeAsync(myRequest, mine, policy));
        Assert.Equal(200, myRequest.Response.StatusCode);
        theirs.Release();
        mine.Release();
    }

    private static DefaultHttpContext Get()
    {
        var context = new DefaultHttpContext();
        context.Request.Method = HttpMethods.Get;
        context.Response.Body = new MemoryStream();
        return context;
    }

    private static SingleFlightKey Key(string characters, ulong? hash = null)
    {
        var buffer = ArrayPool<char>.Shared.Rent(characters.Length);
        characters.CopyTo(buffer);
        return hash is { } given ? new SingleFlightKey(buffer, characters.Length, given) : new SingleFlightKey(buffer, characters.Length);
    }
}
