using System.Net;
using Coordination.AspNetCore;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Coordination.Tests.Http;

/// <summary>Client aborts over a real Kestrel socket: TestServer's aborts are not what a dropped TCP connection does.</summary>
public sealed class ClientDisconnectTests
{
    private const string Body = "the full shared body";

    [Fact]
    public async Task LeaderClientDisconnectsMidFlight_FollowersStillGet200WithTheFullBody_FiftyTimes()
    {
        Gate gate = new();
        var handlerSawAbort = 0;
        var runs = 0;
        await using var app = new CoordinationTestApp(map => map.MapGet("/slow", async (HttpContext context) =>
        {
            Interlocked.Increment(ref runs);
            await gate.PassAsync();
            if (context.RequestAborted.IsCancellationRequested)
            {
                Interlocked.Increment(ref handlerSawAbort);
            }

            return Body;
        }).WithSingleFlight(p => p.EmitRoleHeader = true));
        app.UseKestrel(0);
        app.StartServer();
        var failures = new List<string>();

        for (var iteration = 0; iteration < 50; iteration++)
        {
            gate = new Gate();
            var path = $"/slow?iteration={iteration}";
            using var leaderClient = app.CreateClient();
            using var followerClient = app.CreateClient();
            using var leaderAbort = new CancellationTokenSource();

            var leader = leaderClient.GetAsync(path, leaderAbort.Token);
            Gate.WaitUntil(() => gate.Entered == 1, "the leader runs");
            var followers = Enumerable.Range(0, 3).Select(_ => followerClient.GetAsync(path)).ToArray();
            Gate.WaitUntil(() => HttpCoalescingTests.WaitingOn(app, "/slow") == 4, "four requests share the flight");

            leaderAbort.Cancel();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => leader).DefaultTimeout();
            Gate.WaitUntil(() => HttpCoalescingTests.WaitingOn(app, "/slow") == 3, "the server saw the leader's client go");
            gate.Open();

            foreach (var follower in await Task.WhenAll(followers).DefaultTimeout())
            {
                var body = await follower.Content.ReadAsStringAsync();
                if (follower.StatusCode != HttpStatusCode.OK || body != Body)
                {
                    failures.Add($"iteration {iteration}: {(int)follower.StatusCode} {body}");
                }
            }
        }

        Assert.True(failures.Count == 0, string.Join("\n", failures.Take(1)));
        Assert.Equal(50, runs);
        Assert.Equal(0, handlerSawAbort);
    }

    [Fact]
    public async Task EveryClientDisconnects_TheHandlerSeesRequestAbortedAndTheKeyIsFree()
    {
        var gate = new Gate();
        var handlerSawAbort = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var app = new CoordinationTestApp(map => map.MapGet("/abandoned", async (HttpContext context) =>
        {
            await gate.PassAsync(context.RequestAborted).ContinueWith(_ => { }, TaskScheduler.Default);
            if (context.RequestAborted.IsCancellationRequested)
            {
                handlerSawAbort.TrySetResult();
            }

            return "late";
        }).WithSingleFlight());
        app.UseKestrel(0);
        app.StartServer();
        using var client = app.CreateClient();
        using var abort = new CancellationTokenSource();

        var first = client.GetAsync("/abandoned", abort.Token);
        var second = client.GetAsync("/abandoned", abort.Token);
        Gate.WaitUntil(() => gate.Entered == 1 && HttpCoalescingTests.WaitingOn(app, "/abandoned") == 2, "two requests share the flight");
        abort.Cancel();

        await handlerSawAbort.Task.DefaultTimeout();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => first).DefaultTimeout();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => second).DefaultTimeout();
        Gate.WaitUntil(() => HttpCoalescingTests.WaitingOn(app, "/abandoned") == 0, "the flight is gone");
    }

    [Fact]
    public async Task EveryClientDisconnectsBeforeTheHandlerLooks_RequestAbortedFiresWhenItDoes()
    {
        // The flight's token is created when the handler first reads RequestAborted, here after its flight was given up.
        // The flight is taken out of the table just before its work is cancelled, so the handler usually looks after
        // the cancellation (the token must then start cancelled: ignoring that fails this test) and otherwise just
        // before it (the ordinary path); either way it must see RequestAborted fire.
        var gate = new Gate();
        var handlerSawAbort = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var app = new CoordinationTestApp(map => map.MapGet("/late-look", async (HttpContext context) =>
        {
            await gate.PassAsync();
            await RunUntilAbortedAsync(context, handlerSawAbort);
        }).WithSingleFlight());
        app.UseKestrel(0);
        app.StartServer();
        using var client = app.CreateClient();
        using var abort = new CancellationTokenSource();

        var request = client.GetAsync("/late-look", abort.Token);
        Gate.WaitUntil(() => gate.Entered == 1 && HttpCoalescingTests.WaitingOn(app, "/late-look") == 1, "the lone request leads its flight");
        abort.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => request).DefaultTimeout();
        Gate.WaitUntil(() => HttpCoalescingTests.WaitingOn(app, "/late-look") == 0, "the server saw the only client go");
        gate.Open();

        await handlerSawAbort.Task.DefaultTimeout();
    }

    [Fact]
    public async Task LoneLeaderClientDisconnectsAfterTheResponseStarted_TheHandlerSeesRequestAborted()
    {
        var handlerSawAbort = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var app = new CoordinationTestApp(map => map.MapGet("/feed", async (HttpContext context) =>
        {
            context.Response.ContentType = "text/event-stream";
            await context.Response.WriteAsync("data: first\n\n");
            await context.Response.Body.FlushAsync();

            // A feed that runs until its client leaves, as an endpoint without coalescing would.
            await RunUntilAbortedAsync(context, handlerSawAbort);
        }).WithSingleFlight());
        app.UseKestrel(0);
        app.StartServer();
        using var client = app.CreateClient();

        var response = await client.GetAsync("/feed", HttpCompletionOption.ResponseHeadersRead).DefaultTimeout();
        using (var reader = new StreamReader(await response.Content.ReadAsStreamAsync()))
        {
            Assert.Equal("data: first", await reader.ReadLineAsync().DefaultTimeout());
        }

        // Disposing an unfinished response closes its connection: the only client of the flight is gone.
        response.Dispose();

        await handlerSawAbort.Task.DefaultTimeout();
    }

    /// <summary>Runs until the request's <c>RequestAborted</c> fires, then records that it did.</summary>
    private static async Task RunUntilAbortedAsync(HttpContext context, TaskCompletionSource sawAbort)
    {
        try
        {
            await Task.Delay(Timeout.Infinite, context.RequestAborted);
        }
        catch (OperationCanceledException)
        {
            sawAbort.TrySetResult();
        }
    }
}
