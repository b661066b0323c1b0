using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using WebApi;

namespace Coordination.Dashboard.Tests;

/// <summary>
/// The shipped Grafana dashboard against a real Prometheus scraping the sample: every query of every panel must return
/// a series, so a renamed metric, label or unit suffix turns this red.
/// </summary>
public sealed class DashboardQueryTests
{
    /// <summary>How long the test waits for Prometheus to scrape what the traffic produced; generous for a loaded
    /// machine, as it bounds a wait for a condition and is not a measured duration.</summary>
    private static readonly TimeSpan ScrapeDeadline = TimeSpan.FromMinutes(2);

    [Fact]
    public async Task EveryDashboardQuery_ReturnsASeries_FromTheSampleScrapedByPrometheus()
    {
        // Arrange: the sample on a real loopback socket, and Prometheus with the shipped config pointed at it.
        await using var sample = new SampleServer();
        sample.UseKestrel(0);
        sample.StartServer();
        var address = new Uri(sample.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
        var config = ShippedFile("prometheus.yml");
        Assert.Contains("localhost:5080", config);
        Assert.Contains("scrape_interval: 5s", config);
        config = config.Replace("localhost:5080", $"127.0.0.1:{address.Port}", StringComparison.Ordinal)
            .Replace("scrape_interval: 5s", "scrape_interval: 1s", StringComparison.Ordinal);
        await using var prometheus = await PrometheusServer.StartAsync(config);
        var queries = DashboardQueries(ShippedFile("coordination.json"));
        Assert.NotEmpty(queries);

        // Act: every primitive, with the failures the dashboard shows.
        using var client = new HttpClient { BaseAddress = address };
        await ExerciseEveryPrimitiveAsync(client);

        // Assert: Prometheus returns at least one series for every query, once it has scraped enough.
        var missing = queries.ToHashSet();
        using var deadline = new CancellationTokenSource(ScrapeDeadline);
        while (missing.Count > 0 && !deadline.IsCancellationRequested)
        {
            foreach (var query in missing.ToList())
            {
                if (await prometheus.CountSeriesAsync(query) > 0)
                {
                    missing.Remove(query);
                }
            }

            if (missing.Count > 0)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(500), CancellationToken.None);
            }
        }

        Assert.True(
            missing.Count == 0,
            $"No series for {missing.Count} of {queries.Count} dashboard queries:{Environment.NewLine}{string.Join(Environment.NewLine, missing)}" +
            $"{Environment.NewLine}Coordination metrics in Prometheus: {await prometheus.MetricNamesAsync()}" +
            $"{Environment.NewLine}Targets: {await prometheus.TargetsAsync()}{Environment.NewLine}Prometheus: {prometheus.Output}");
    }

    [Fact]
    public void Dashboard_ReadsPrometheusThroughTheDataSourceVariable()
    {
        using var dashboard = JsonDocument.Parse(ShippedFile("coordination.json"));

        var variable = Assert.Single(dashboard.RootElement.GetProperty("templating").GetProperty("list").EnumerateArray(), v => v.GetProperty("type").GetString() == "datasource");
        Assert.Equal(("datasource", "prometheus"), (variable.GetProperty("name").GetString(), variable.GetProperty("query").GetString()));
        var panels = Panels(dashboard.RootElement).Where(p => p.GetProperty("type").GetString() != "row").ToList();
        Assert.NotEmpty(panels);
        Assert.All(panels, panel =>
        {
            Assert.Equal("${datasource}", panel.GetProperty("datasource").GetProperty("uid").GetString());
            Assert.NotEmpty(panel.GetProperty("targets").EnumerateArray());
        });
    }

    private static async Task ExerciseEveryPrimitiveAsync(HttpClient client)
    {
        // Single-flight: concurrent identical requests share one run of the catalog lookup.
        var products = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => client.GetAsync("/products?category=books")));
        Assert.All(products, r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));

        // Batch processor: increments share loads and saves; a counter on a shard that is down aborts its batch.
        var increments = await Task.WhenAll(Enumerable.Range(0, 30).Select(_ => client.PostAsync("/counters/visits/increment", null)));
        Assert.All(increments, r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await client.PostAsync("/counters/offline-1/increment", null)).StatusCode);

        // Ordered ingestion: one event succeeds, one fails once and is retried (its account blocked meanwhile), one is dead-lettered.
        var events = await client.PostAsJsonAsync("/orders/events", new[]
        {
            new OrderEvent("acc-1", "deposit", 10),
            new OrderEvent("acc-2", "flaky", 5),
            new OrderEvent("acc-3", "invalid", 1),
        });
        Assert.Equal(HttpStatusCode.Accepted, events.StatusCode);

        // Task queue: one email is sent, one goes to the error group.
        Assert.Equal(HttpStatusCode.Accepted, (await client.PostAsJsonAsync("/emails", new Email("ada@example.com", "hello", "Hi Ada"))).StatusCode);
        Assert.Equal(HttpStatusCode.Accepted, (await client.PostAsJsonAsync("/emails", new Email("eve@example.invalid", "hello", "Hi Eve"))).StatusCode);
    }

    /// <summary>Every PromQL expression of the dashboard, with Grafana's rate interval set for a 1 s scrape.</summary>
    private static List<string> DashboardQueries(string dashboardJson)
    {
        using var dashboard = JsonDocument.Parse(dashboardJson);
        return [.. Panels(dashboard.RootElement)
            .Where(p => p.TryGetProperty("targets", out _))
            .SelectMany(p => p.GetProperty("targets").EnumerateArray())
            .Select(t => t.GetProperty("expr").GetString()!.Replace("$__rate_interval", "1m", StringComparison.Ordinal))];
    }

    /// <summary>The panels, including those nested in collapsed rows.</summary>
    private static IEnumerable<JsonElement> Panels(JsonElement container)
    {
        foreach (var panel in container.GetProperty("panels").EnumerateArray())
        {
            yield return panel;
            if (panel.TryGetProperty("panels", out _))
            {
                foreach (var nested in Panels(panel))
                {
                    yield return nested;
                }
            }
        }
    }

    private static string ShippedFile(string name) => File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "dashboards", name));

    /// <summary>The sample as it ships (telemetry on, Prometheus endpoint at /metrics).</summary>
    private sealed class SampleServer : WebApplicationFactory<Program>
    {
        protected override void ConfigureWebHost(IWebHostBuilder builder) => builder.UseEnvironment("Testing");
    }
}
