using System.Diagnostics.CodeAnalysis;
using System.Text.Json;
using Coordination.Diagnostics;
using Coordination.Ingestion;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Coordination.AspNetCore;

/// <summary>Registers ordered ingestions.</summary>
public static class IngestionCoordinationBuilderExtensions
{
    /// <summary>
    /// Registers a named ordered ingestion of <typeparamref name="TEvent"/> handled by <typeparamref name="THandler"/>
    /// (resolved from a new scope per event), with the <see cref="IEventLog"/> registered under the same key, else the
    /// one the registered <see cref="IEventLogFactory"/> creates (<c>UsePostgreSql</c> registers one), else one in
    /// memory. <see cref="OrderedIngestion{TEvent}"/> is a keyed singleton under <paramref name="name"/>; its dispatcher
    /// starts and stops with the host. Map its endpoints with <c>app.MapOrderedIngestion&lt;TEvent&gt;(pattern, name)</c>.
    /// </summary>
    /// <typeparam name="TEvent">The event type.</typeparam>
    /// <typeparam name="THandler">The handler; registered as scoped unless already registered.</typeparam>
    /// <param name="builder">The coordination builder.</param>
    /// <param name="name">The ingestion name; case-sensitive, unique among ordered ingestions.</param>
    /// <param name="configure">Configures the ingestion; <see cref="OrderedIngestionOptions{TEvent}.KeySelector"/> is required.</param>
    /// <returns>The builder, for chaining.</returns>
    [RequiresUnreferencedCode("Events are read and stored as JSON; without a source-generated context in SerializerOptions this uses reflection.")]
    [RequiresDynamicCode("Events are read and stored as JSON; without a source-generated context in SerializerOptions this uses reflection.")]
    public static CoordinationBuilder AddOrderedIngestion<TEvent, [DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicConstructors)] THandler>(this CoordinationBuilder builder, string name, Action<OrderedIngestionOptions<TEvent>> configure)
        where THandler : class, IEventHandler<TEvent>
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(configure);
        builder.Registry.Add("ordered ingestion", name);
        var services = builder.Services;
        services.TryAddSingleton<IngestionMetrics>();
        services.TryAddScoped<THandler>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton(OptionsValidation.Validator<OrderedIngestionOptions<TEvent>>(static (options, validatedName) => options.Validate(validatedName))));
        services.AddOptions<OrderedIngestionOptions<TEvent>>(name).Configure(configure).ValidateOnStart();
        services.TryAddKeyedSingleton<IEventLog>(name, static (provider, key) =>
            provider.GetService<IEventLogFactory>()?.Create((string)key!) ?? new InMemoryEventLog(provider.GetRequiredService<TimeProvider>()));
        services.AddKeyedSingleton(name, static (provider, key) =>
        {
            var ingestionName = (string)key!;
            var options = provider.GetRequiredService<IOptionsMonitor<OrderedIngestionOptions<TEvent>>>().Get(ingestionName);
            var scopes = provider.GetRequiredService<IServiceScopeFactory>();
            return new OrderedIngestion<TEvent>(
                ingestionName,
                options,
                provider.GetRequiredKeyedService<IEventLog>(ingestionName),
                (ingested, context, cancellationToken) => ScopedHandler.RunAsync<THandler>(scopes, handler => handler.HandleAsync(ingested, context, cancellationToken)),
                options.SerializerOptions ?? JsonSerializerOptions.Web,
                provider.GetRequiredService<TimeProvider>(),
                provider.GetRequiredService<IOptions<HostOptions>>().Value.ShutdownTimeout,
                provider.GetRequiredService<IngestionMetrics>(),
                provider.GetRequiredService<ILoggerFactory>().CreateLogger("Coordination.AspNetCore.Ingestion"));
        });
        services.AddSingleton<IHostedPrimitive>(provider => new OrderedIngestionLifetime<TEvent>(provider.GetRequiredKeyedService<OrderedIngestion<TEvent>>(name)));
        return builder;
    }
}
