using Microsoft.Extensions.DependencyInjection;

namespace Coordination.AspNetCore;

/// <summary>Runs a handler resolved from a scope of its own, as hosted work does for each event or task.</summary>
internal static class ScopedHandler
{
    public static async Task RunAsync<THandler>(IServiceScopeFactory scopes, Func<THandler, Task> handle)
        where THandler : notnull
    {
        var scope = scopes.CreateAsyncScope();
        await using (scope.ConfigureAwait(false))
        {
            await handle(scope.ServiceProvider.GetRequiredService<THandler>()).ConfigureAwait(false);
        }
    }
}
