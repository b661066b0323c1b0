using System.Diagnostics.CodeAnalysis;
using Coordination.Batching;
using Coordination.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Coordination.AspNetCore;

/// <summary>Registers batch processors.</summary>
public static class BatchCoordinationBuilderExtensions
{
    /// <summary>
    /// Registers a named <see cref="BatchProcessor{TResource}"/> that loads and saves through <typeparamref name="TStore"/>,
    /// resolved from a new scope per batch (so a scoped <c>DbContext</c> works). The processor is a keyed singleton —
    /// <c>[FromKeyedServices("name")] BatchProcessor&lt;TResource&gt;</c> — and stops with the host.
    /// </summary>
    /// <typeparam name="TResource">The resource type.</typeparam>
    /// <typeparam name="TStore">The store; registered as scoped unless already registered.</typeparam>
    /// <param name="builder">The coordination builder.</param>
    /// <param name="name">The processor name; case-sensitive, unique among batch processors.</param>
    /// <param name="configure">Configures the processor; invalid values fail at startup.</param>
    /// <returns>The builder, for chaining.</returns>
    public static CoordinationBuilder AddBatchProcessor<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicParameterlessConstructor)] TResource, [DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicConstructors)] TStore>(
        this CoordinationBuilder builder,
        string name,
        Action<BatchProcessorOptions<TResource>>? configure = null)
        where TResource : class
        where TStore : class, IBatchResourceStore<TResource>
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.TryAddScoped<TStore>();
        return AddBatchProcessorCore(builder, name, configure, static services =>
        {
            var scopes = services.GetRequiredService<IServiceScopeFactory>();
            return () =>
            {
                var scope = scopes.CreateAsyncScope();
                return new BatchStoreLease<TResource>(() => scope.ServiceProvider.GetRequiredService<TStore>(), scope);
            };
        });
    }

    /// <summary>
    /// Registers a named <see cref="BatchProcessor{TResource}"/> that loads and saves through the delegates of its options
    /// (<see cref="BatchProcessorOptions{TResource}.LoadResource"/>, <see cref="BatchProcessorOptions{TResource}.SaveResource"/>).
    /// </summary>
    /// <typeparam name="TResource">The resource type.</typeparam>
    /// <param name="builder">The coordination builder.</param>
    /// <param name="name">The processor name; case-sensitive, unique among batch processors.</param>
    /// <param name="configure">Configures the processor; invalid values fail at startup.</param>
    /// <returns>The builder, for chaining.</returns>
    public static CoordinationBuilder AddBatchProcessor<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicParameterlessConstructor)] TResource>(
        this CoordinationBuilder builder,
        string name,
        Action<BatchProcessorOptions<TResource>>? configure = null)
        where TResource : class =>
        AddBatchProcessorCore(builder, name, configure, static _ => null);

    private static CoordinationBuilder AddBatchProcessorCore<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicParameterlessConstructor)] TResource>(
        CoordinationBuilder builder,
        string name,
        Action<BatchProcessorOptions<TResource>>? configure,
        Func<IServiceProvider, Func<BatchStoreLease<TResource>>?> store)
        where TResource : class
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Registry.Add("batch processor", name);
        var services = builder.Services;
        services.TryAddSingleton<BatchMetrics>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton(OptionsValidation.Validator<BatchProcessorOptions<TResource>>(static (options, validatedName) => options.Validate(validatedName))));
        var options = services.AddOptions<BatchProcessorOptions<TResource>>(name).ValidateOnStart();
        if (configure is not null)
        {
            options.Configure(configure);
        }

        services.AddKeyedSingleton(name, (provider, key) => new BatchProcessor<TResource>(
            (string)key!,
            provider.GetRequiredService<IOptionsMonitor<BatchProcessorOptions<TResource>>>().Get((string)key!),
            store(provider),
            provider.GetRequiredService<TimeProvider>(),
            provider.GetRequiredService<BatchMetrics>(),
            provider.GetRequiredService<ILoggerFactory>().CreateLogger("Coordination.AspNetCore.Batching")));
        services.AddSingleton<IHostedPrimitive>(provider => new BatchProcessorLifetime<TResource>(provider.GetRequiredKeyedService<BatchProcessor<TResource>>(name)));
        return builder;
    }
}
