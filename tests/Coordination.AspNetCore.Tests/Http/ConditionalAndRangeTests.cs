using Coordination.AspNetCore;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Net.Http.Headers;

namespace Coordination.Tests.Http;

/// <summary>Preconditions and ranges: a client gets the 200, 304 or 206 it asked for, never another client's.</summary>
public sealed class ConditionalAndRangeTests
{
    private static readonly (string Name, string Value)[][] Requests =
    [
        [],
        [],
        [("If-None-Match", "\"v1\"")],
        [("If-None-Match", "\"v0\"")],
        [("Range", "bytes=0-3")],
        [("Range", "bytes=10-12")],
        [("If-Range", "\"v0\""), ("Range", "bytes=0-3")],
        [("If-Match", "\"v0\"")],
    ];

    [Fact]
    public async Task ResultsBytes_EachClientGetsWhatItAskedFor_IdenticalRequestsStillShare()
    {
        var gate = new Gate();
        await using var app = new CoordinationTestApp(map => Twin.Map(map, "/doc", async (HttpContext context) =>
        {
            await Twin.HoldUnlessAlone(context, gate);
            return Results.Bytes(DocumentsController.Alphabet, "text/plain", entityTag: new EntityTagHeaderValue("\"v1\""), enableRangeProcessing: true);
        }).WithSingleFlight(p => p.EmitRoleHeader = true));

        await AssertEachAsAloneAsync(app, gate, "/doc");
    }

    [Fact]
    public async Task MvcFileResult_EachClientGetsWhatItAskedFor_IdenticalRequestsStillShare()
    {
        var gate = new Gate();
        await using var app = new CoordinationTestApp(services: s =>
        {
            s.AddSingleton(gate);
            s.AddControllers().AddApplicationPart(typeof(DocumentsController).Assembly);
        });

        await AssertEachAsAloneAsync(app, gate, "/mvc/doc");
    }

    private static async Task AssertEachAsAloneAsync(CoordinationTestApp app, Gate gate, string path)
    {
        var client = app.CreateClient();

        // Seven distinct requests run seven times; the two plain ones share a run.
        var coalesced = Requests.Select(headers => client.GetWithHeadersAsync(path, headers)).ToArray();
        Gate.WaitUntil(() => gate.Entered == Requests.Length - 1 && HttpCoalescingTests.WaitingOn(app, path) == Requests.Length, "one run per distinct request");
        gate.Open();

        for (var i = 0; i < Requests.Length; i++)
        {
            var alone = await client.GetWithHeadersAsync(path + Twin.AloneSuffix, Requests[i]);
            var what = Requests[i].Length == 0 ? "no precondition" : string.Join(", ", Requests[i].Select(h => $"{h.Name}: {h.Value}"));
            await Twin.AssertSameAsAloneAsync(await coalesced[i].DefaultTimeout(), alone, what);
        }

        Assert.Equal(Requests.Length - 1, gate.Entered);
    }
}
