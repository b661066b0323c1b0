namespace Coordination.Batching;

/// <summary>Loads and saves the resource of a <see cref="BatchProcessor{TResource}"/>; resolved from a new scope per batch.</summary>
/// <typeparam name="TResource">The resource type.</typeparam>
/// <remarks>One store instance serves exactly one batch (one load, then at most one save), so a scoped
/// <c>DbContext</c> or an open transaction can span the load and the save.</remarks>
public interface IBatchResourceStore<TResource>
    where TResource : class
{
    /// <summary>Loads the resource of <paramref name="key"/> at the start of a batch.</summary>
    /// <param name="key">The resource key.</param>
    /// <param name="cancellationToken">Cancelled when the batch passes its <c>MaxDuration</c> or a stop is cut short; the
    /// batch then stops waiting for this call, whether or not it honours the token.</param>
    /// <returns>The resource; the batch's operations mutate it in place.</returns>
    ValueTask<TResource> LoadAsync(string key, CancellationToken cancellationToken);

    /// <summary>Saves the resource of <paramref name="key"/> once every operation of the batch has run.</summary>
    /// <param name="key">The resource key.</param>
    /// <param name="resource">The loaded resource, with the batch's changes.</param>
    /// <param name="cancellationToken">Cancelled when the batch passes its <c>MaxDuration</c> or a stop is cut short; the
    /// batch then stops waiting for this call, whether or not it honours the token.</param>
    /// <returns>A task that completes when the resource is durable.</returns>
    ValueTask SaveAsync(string key, TResource resource, CancellationToken cancellationToken);
}
