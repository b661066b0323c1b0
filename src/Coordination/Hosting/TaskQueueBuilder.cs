using System.Diagnostics.CodeAnalysis;
using Coordination.Diagnostics;
using Coordination.Tasks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Coordination.AspNetCore;

/// <summary>Adds hosted workers to a task queue; returned by <c>AddTaskQueue</c>.</summary>
public sealed class TaskQueueBuilder
{
    internal TaskQueueBuilder(IServiceCollection services, string name)
    {
        Services = services;
        Name = name;
    }

    /// <summary>Gets the queue's name.</summary>
    public string Name { get; }

    /// <summary>Gets the service collection.</summary>
    public IServiceCollection Services { get; }

    /// <summary>
    /// Adds hosted workers that run the queue's tasks with <typeparamref name="THandler"/>, resolved from a new DI scope per
    /// task. They start with the host; on stop they claim nothing more, let running handlers finish within the shutdown
    /// timeout, and make the tasks of handlers cut short claimable again at once. A handler is waited for until its token
    /// is cancelled and no longer, even if it ignores the token. Workers stop before the application's batch processors.
    /// </summary>
    /// <typeparam name="THandler">The handler; registered as scoped unless already registered.</typeparam>
    /// <param name="configure">Configures the workers.</param>
    /// <returns>This builder, for chaining.</returns>
    /// <exception cref="ArgumentException">An option is out of range; the message names it.</exception>
    public TaskQueueBuilder AddWorker<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicConstructors)] THandler>(Action<TaskWorkerOptions>? configure = null)
        where THandler : class, ITaskHandler
    {
        var options = new TaskWorkerOptions();
        configure?.Invoke(options);
        OptionsValidation.ThrowIfInvalid(options.Validate(Name, typeof(THandler).Name), nameof(configure));
        Services.TryAddScoped<THandler>();
        var name = Name;
        var concurrency = options.Concurrency;
        Services.AddSingleton<IHostedPrimitive>(provider => new TaskWorkerLifetime(() =>
        {
            var scopes = provider.GetRequiredService<IServiceScopeFactory>();
            return new TaskWorker(
                provider.GetRequiredKeyedService<TaskQueue>(name),
                provider.GetRequiredService<IOptionsMonitor<TaskQueueOptions>>().Get(name),
                concurrency,
                (task, cancellationToken) => ScopedHandler.RunAsync<THandler>(scopes, handler => handler.HandleAsync(task, cancellationToken)),
                provider.GetRequiredService<TimeProvider>(),
                provider.GetRequiredService<TaskMetrics>(),
                provider.GetRequiredService<ILoggerFactory>().CreateLogger("Coordination.AspNetCore.Tasks"));
        }));
        return this;
    }
}
