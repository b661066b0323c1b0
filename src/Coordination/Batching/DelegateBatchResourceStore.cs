using System.Diagnostics.CodeAnalysis;

namespace Coordination.Batching;

/// <summary>Loads and saves through the option delegates; by default a new resource, and no save.</summary>
internal sealed class DelegateBatchResourceStore<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicParameterlessConstructor)] TResource>(
    Func<string, CancellationToken, ValueTask<TResource>>? load,
    Func<string, TResource, CancellationToken, ValueTask>? save) : IBatchResourceStore<TResource>
    where TResource : class
{
    public ValueTask<TResource> LoadAsync(string key, CancellationToken cancellationToken) =>
        load?.Invoke(key, cancellationToken) ?? new ValueTask<TResource>(Activator.CreateInstance<TResource>());

    public ValueTask SaveAsync(string key, TResource resource, CancellationToken cancellationToken) =>
        save?.Invoke(key, resource, cancellationToken) ?? ValueTask.CompletedTask;
}
