using Coordination.AspNetCore;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;

namespace Coordination.Tests.Http;

/// <summary>
/// The sample service under WebApplicationFactory, with a test's own endpoints and coordination registrations added.
/// </summary>
internal sealed class CoordinationTestApp(
    Action<IEndpointRouteBuilder>? mapEndpoints = null,
    Action<CoordinationBuilder>? coordination = null,
    Action<IServiceCollection>? services = null,
    Action<IApplicationBuilder>? beforeEndpoints = null) : WebApplicationFactory<Program>
{
    public SingleFlightPolicyProvider Policies => Services.GetRequiredService<SingleFlightPolicyProvider>();

    public SingleFlightPolicy Policy(string? name) => Policies.GetNamedPolicy(name);

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        builder.UseEnvironment("Testing");
        // The sample's OpenTelemetry listens to every Coordination meter in the process, which would enable instruments
        // of other tests' services; tests/Coordination.Dashboard.Tests proves the sample's telemetry in its own process.
        builder.UseSetting("Telemetry:Enabled", "false");
        builder.ConfigureTestServices(testServices =>
        {
            if (coordination is not null)
            {
                testServices.AddKeyedCoordination(coordination);
            }

            services?.Invoke(testServices);
            if (mapEndpoints is not null)
            {
                testServices.AddSingleton<IStartupFilter>(new TestEndpoints(mapEndpoints, beforeEndpoints));
            }
        });
    }

    /// <summary>Maps the test's endpoints in front of the sample's pipeline.</summary>
    private sealed class TestEndpoints(Action<IEndpointRouteBuilder> map, Action<IApplicationBuilder>? beforeEndpoints) : IStartupFilter
    {
        public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
        {
            app.UseExceptionHandler();
            app.UseRouting();
            beforeEndpoints?.Invoke(app);
            app.UseEndpoints(map);
            next(app);
        };
    }
}
