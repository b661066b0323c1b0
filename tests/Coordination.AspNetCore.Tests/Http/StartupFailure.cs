using Coordination.AspNetCore;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Coordination.Tests.Http;

/// <summary>Builds and starts a small app of the test's own and returns the exception its mapping or startup threw.</summary>
/// <remarks>Not <see cref="CoordinationTestApp"/>: when the app under WebApplicationFactory fails to start, the factory
/// may look up a service of the host the failed start already disposed, and an ObjectDisposedException hides the error
/// under test.</remarks>
internal static class StartupFailure
{
    public static async Task<Exception> CaptureAsync(
        Action<WebApplication> configure,
        Action<CoordinationBuilder>? coordination = null,
        Action<IServiceCollection>? services = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseTestServer();
        builder.Logging.ClearProviders();
        builder.Services.AddKeyedCoordination(coordination ?? (_ => { }));
        services?.Invoke(builder.Services);
        await using var app = builder.Build();

        // Some mistakes surface while mapping (options read by a Map call), the rest when the host starts.
        var error = await Record.ExceptionAsync(() =>
        {
            configure(app);
            return app.StartAsync();
        });

        return Assert.IsAssignableFrom<Exception>(error);
    }
}
