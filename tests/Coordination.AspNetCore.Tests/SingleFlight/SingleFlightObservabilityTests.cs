using System.Diagnostics;
using System.Diagnostics.Metrics;
using Coordination.AspNetCore;
using Coordination.Diagnostics;
using Coordination.SingleFlight;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Coordination.Tests.SingleFlight;

public sealed class SingleFlightObservabilityTests
{
    [Fact]
    public async Task KeyedGroup_RecordsRolesActiveFlightsAndFollowers()
    {
        // Arrange
        await using var services = new ServiceCollection()
            .AddKeyedCoordination(coord => coord.AddSingleFlightGroup<string, int>("prices", o => o.MaxKeys = 1))
            .BuildServiceProvider();
        var meters = services.GetRequiredService<IMeterFactory>();
        using var requests = new MetricCollector<long>(meters, CoordinationDiagnostics.MeterName, "coordination.single_flight.requests");
        using var active = new MetricCollector<long>(meters, CoordinationDiagnostics.MeterName, "coordination.single_flight.active");
        using var followers = new MetricCollector<int>(meters, CoordinationDiagnostics.MeterName, "coordination.single_flight.followers");
        var group = services.GetRequiredKeyedService<SingleFlightGroup<string, int>>("prices");
        var gate = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        var boom = new InvalidOperationException();

        // Act: one leader and two followers share a flight; another key overflows MaxKeys; a second flight fails.
        var leader = group.RunAsync("a", _ => gate.Task);
        var followerTasks = new[] { group.RunAsync("a", _ => Task.FromResult(0)), group.RunAsync("a", _ => Task.FromResult(0)) };
        Assert.Equal(1, active.LastMeasurement?.Value);
        await group.RunAsync("b", _ => Task.FromResult(2)).DefaultTimeout();
        gate.SetResult(1);
        await Task.WhenAll(followerTasks.Append(leader)).DefaultTimeout();
        await Assert.ThrowsAsync<InvalidOperationException>(() => group.RunAsync("c", _ => Task.FromException<int>(boom))).DefaultTimeout();

        // Assert
        var snapshot = requests.GetMeasurementSnapshot();
        Assert.All(snapshot, m => Assert.Equal("prices", m.Tags[CoordinationDiagnostics.NameTag]));
        Assert.Equal(1, Count(snapshot, SingleFlightMetrics.Leader, SingleFlightMetrics.Success));
        Assert.Equal(2, Count(snapshot, SingleFlightMetrics.Follower, SingleFlightMetrics.Success));
        Assert.Equal(1, Count(snapshot, SingleFlightMetrics.Overflow, SingleFlightMetrics.Success));
        var failed = Assert.Single(snapshot, m => Equals(m.Tags[SingleFlightMetrics.ResultTag], SingleFlightMetrics.Failure));
        Assert.Equal(typeof(InvalidOperationException).FullName, failed.Tags[CoordinationDiagnostics.ErrorTypeTag]);
        Assert.Equal(0, active.GetMeasurementSnapshot().Sum(m => m.Value));
        Assert.Equal([2, 0], followers.GetMeasurementSnapshot().Select(m => m.Value));
    }

    [Fact]
    public async Task Promotion_And_Cancellation_AreCountedWithTheirRoles()
    {
        await using var services = new ServiceCollection().AddKeyedCoordination(coord => coord.AddSingleFlightGroup<string, int>("g")).BuildServiceProvider();
        using var requests = new MetricCollector<long>(services.GetRequiredService<IMeterFactory>(), CoordinationDiagnostics.MeterName, "coordination.single_flight.requests");
        var group = services.GetRequiredKeyedService<SingleFlightGroup<string, int>>("g");
        using var leaderCts = new CancellationTokenSource();

        var leader = group.RunAsync("k", async ct => { await Task.Delay(Timeout.Infinite, ct); return 0; }, leaderCts.Token);
        var promoted = group.RunAsync("k", _ => Task.FromResult(3));
        leaderCts.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => leader).DefaultTimeout();
        Assert.Equal(3, await promoted.DefaultTimeout());

        var snapshot = requests.GetMeasurementSnapshot();
        Assert.Equal(1, Count(snapshot, SingleFlightMetrics.Leader, SingleFlightMetrics.Canceled));
        Assert.Equal(1, Count(snapshot, SingleFlightMetrics.Promoted, SingleFlightMetrics.Success));
    }

    [Fact]
    public async Task Execution_IsAnActivity_AndFollowersLinkToIt()
    {
        using var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == CoordinationDiagnostics.ActivitySourceName || source.Name == "test",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
        };
        ActivitySource.AddActivityListener(listener);
        using var testSource = new ActivitySource("test");
        var group = new SingleFlightGroup<string, int>();
        var gate = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        Activity? execution = null;

        Task<int> leader;
        using (testSource.StartActivity("leader request"))
        {
            leader = group.RunAsync("k", _ => { execution = Activity.Current; return gate.Task; });
        }

        using var followerRequest = testSource.StartActivity("follower request")!;
        var follower = group.RunAsync("k", _ => Task.FromResult(0));
        gate.SetResult(1);
        await Task.WhenAll(leader, follower).DefaultTimeout();

        Assert.NotNull(execution);
        Assert.Equal("coordination.single_flight", execution.OperationName);
        Assert.Equal("coordination.single_flight default", execution.DisplayName);
        Assert.Equal("leader request", execution.Parent?.OperationName);
        Assert.Contains(followerRequest.Links, link => link.Context.SpanId == execution.SpanId);
    }

    [Fact]
    public async Task KeyedGroup_InvalidOptions_FailHostStartNamingTheOption()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddKeyedCoordination(coord => coord.AddSingleFlightGroup<string, int>("bad", o => o.MaxPromotions = 5000));
        using var host = builder.Build();

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());

        Assert.Contains("'bad'", error.Message);
        Assert.Contains("MaxPromotions", error.Message);
        Assert.Contains("5000", error.Message);
    }

    [Fact]
    public void KeyedGroup_DuplicateName_IsRejected()
    {
        var error = Assert.Throws<ArgumentException>(() => new ServiceCollection().AddKeyedCoordination(coord =>
        {
            coord.AddSingleFlightGroup<string, int>("dup");
            coord.AddSingleFlightGroup<string, string>("dup");
        }));

        Assert.Contains("'dup'", error.Message);
    }

    private static long Count(IReadOnlyList<CollectedMeasurement<long>> snapshot, string role, string result) =>
        snapshot.Where(m => Equals(m.Tags[SingleFlightMetrics.RoleTag], role) && Equals(m.Tags[SingleFlightMetrics.ResultTag], result)).Sum(m => m.Value);
}
