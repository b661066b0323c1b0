using System.Collections.Concurrent;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Coordination.Dashboard.Tests;

/// <summary>The sample sends metrics and traces over OTLP when the standard OTEL_EXPORTER_OTLP_ENDPOINT is set.</summary>
public sealed class OtlpExportTests
{
    [Fact]
    public async Task OtlpEndpointSet_TheSampleExportsMetricsAndTraces()
    {
        // Arrange: a stand-in collector on a loopback socket that records the OTLP/HTTP paths it receives.
        var received = new ConcurrentDictionary<string, int>();
        var both = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var collectorBuilder = WebApplication.CreateSlimBuilder();
        collectorBuilder.WebHost.UseUrls("http://127.0.0.1:0");
        collectorBuilder.Logging.ClearProviders();
        await using var collector = collectorBuilder.Build();
        collector.MapPost("/v1/{signal}", (string signal) =>
        {
            received.AddOrUpdate(signal, 1, (_, n) => n + 1);
            if (received.ContainsKey("metrics") && received.ContainsKey("traces"))
            {
                both.TrySetResult();
            }

            return Results.Ok();
        });
        await collector.StartAsync();
        var collectorAddress = collector.Urls.Single();

        await using var sample = new SampleServer(collectorAddress);
        sample.UseKestrel(0);
        sample.StartServer();
        using var client = new HttpClient
        {
            BaseAddress = new Uri(sample.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First()),
        };

        // Act: a request that goes through single-flight (an activity and metrics of the library).
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/products?category=otlp")).StatusCode);

        // Assert: both signals arrive (metrics every 200 ms, spans every 100 ms, as configured below).
        await both.Task.WaitAsync(TimeSpan.FromMinutes(1)).ContinueWith(_ => { }, TaskScheduler.Default);
        Assert.True(received.ContainsKey("metrics") && received.ContainsKey("traces"), $"The collector received: {string.Join(", ", received.Keys)}.");
    }

    /// <summary>The sample configured through the standard OpenTelemetry variables, as a deployment would set them.</summary>
    private sealed class SampleServer(string collectorAddress) : WebApplicationFactory<Program>
    {
        protected override void ConfigureWebHost(IWebHostBuilder builder)
        {
            builder.UseEnvironment("Testing");
            builder.UseSetting("OTEL_EXPORTER_OTLP_ENDPOINT", collectorAddress);
            builder.UseSetting("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf");
            builder.UseSetting("OTEL_METRIC_EXPORT_INTERVAL", "200");
            builder.UseSetting("OTEL_BSP_SCHEDULE_DELAY", "100");
            builder.UseSetting("Telemetry:Prometheus", "false");
        }
    }
}
