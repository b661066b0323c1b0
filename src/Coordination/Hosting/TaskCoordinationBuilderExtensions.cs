using Coordination.Diagnostics;
using Coordination.Tasks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Coordination.AspNetCore;

/// <summary>Registers task queues.</summary>
public static class TaskCoordinationBuilderExtensions
{
    /// <summary>
    /// Registers a named task queue: <see cref="TaskQueue"/> and <see cref="ITaskStore"/> are keyed singletons under
    /// <paramref name="name"/>. The store is the application's <see cref="ITaskStore"/> (an <see cref="InMemoryTaskStore"/>
    /// unless one is registered), or the one registered under the same key. Add hosted workers with
    /// <see cref="TaskQueueBuilder.AddWorker{THandler}"/>.
    /// </summary>
    /// <param name="builder">The coordination builder.</param>
    /// <param name="name">The queue name; case-sensitive, unique among task queues.</param>
    /// <param name="configure">Configures the queue.</param>
    /// <returns>A builder to add the queue's workers with.</returns>
    public static TaskQueueBuilder AddTaskQueue(this CoordinationBuilder builder, string name, Action<TaskQueueOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Registry.Add("task queue", name);
        var services = builder.Services;
        services.TryAddSingleton<TaskMetrics>();
        services.TryAddSingleton<ITaskStore>(static provider => new InMemoryTaskStore(provider.GetRequiredService<TimeProvider>()));
        services.TryAddKeyedSingleton<ITaskStore>(name, static (provider, _) => provider.GetRequiredService<ITaskStore>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton(OptionsValidation.Validator<TaskQueueOptions>(static (options, validatedName) => options.Validate(validatedName))));
        services.AddOptions<TaskQueueOptions>(name).Configure(configure ?? (static _ => { })).ValidateOnStart();
        services.AddKeyedSingleton(name, static (provider, key) =>
        {
            var queueName = (string)key!;
            var options = provider.GetRequiredService<IOptionsMonitor<TaskQueueOptions>>().Get(queueName);
            var queue = new TaskQueue(queueName, options.GroupFor(queueName), options.ErrorGroupFor(queueName), provider.GetRequiredKeyedService<ITaskStore>(queueName));
            provider.GetRequiredService<TaskMetrics>().Register(queue);
            return queue;
        });
        return new TaskQueueBuilder(services, name);
    }
}
