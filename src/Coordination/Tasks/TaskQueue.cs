using System.Diagnostics.CodeAnalysis;
using System.Text.Json.Serialization.Metadata;
using Coordination.Diagnostics;

namespace Coordination.Tasks;

/// <summary>A named task queue: enqueues tasks into its group and wakes its workers in this process.</summary>
/// <remarks>A keyed singleton under the queue's name (<c>[FromKeyedServices("emails")] TaskQueue emails</c>), registered by
/// <c>AddTaskQueue</c>. For atomic work across tasks (enqueue a follow-up while completing a task), use <see cref="Store"/>
/// with <see cref="TaskOp"/>s; workers of a store that implements <see cref="ITaskReadyNotifier"/> wake either way.</remarks>
[SuppressMessage("Naming", "CA1711:Identifiers should not have incorrect suffix", Justification = "It is a task queue, the name users look for.")]
public sealed class TaskQueue
{
    private TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);

    internal TaskQueue(string name, string group, string errorGroup, ITaskStore store)
    {
        Name = name;
        Group = group;
        ErrorGroup = errorGroup;
        Store = store;
        // A store that can tell when tasks become ready wakes idle workers at once; polling covers the rest.
        (store as ITaskReadyNotifier)?.Subscribe(group, SignalReady);
    }

    /// <summary>Gets the queue's name.</summary>
    public string Name { get; }

    /// <summary>Gets the group the queue's tasks live in.</summary>
    public string Group { get; }

    /// <summary>Gets the group tasks move to when they fail for good.</summary>
    public string ErrorGroup { get; }

    /// <summary>Gets the store the queue's tasks live in.</summary>
    public ITaskStore Store { get; }

    /// <summary>Completes when a task may have become ready in <see cref="Group"/>; read it before looking for tasks so
    /// that no wake-up is missed.</summary>
    internal Task ReadySignal => Volatile.Read(ref _ready).Task;

    /// <summary>Enqueues a task whose payload is <paramref name="payload"/> as JSON.</summary>
    /// <typeparam name="T">The payload type.</typeparam>
    /// <param name="payload">The payload.</param>
    /// <param name="typeInfo">The JSON contract (source-generated, or from <c>JsonSerializerOptions.GetTypeInfo</c>).</param>
    /// <param name="notBefore">When the task becomes ready; <see langword="default"/> for now by the store's clock.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The created task, with its id.</returns>
    public ValueTask<TaskItem> EnqueueAsync<T>(T payload, JsonTypeInfo<T> typeInfo, DateTimeOffset notBefore = default, CancellationToken cancellationToken = default) =>
        EnqueueAsync(TaskItem.Create(Group, payload, typeInfo) with { NotBefore = notBefore }, cancellationToken);

    /// <summary>Enqueues a task with a raw payload.</summary>
    /// <param name="payload">The payload.</param>
    /// <param name="contentType">The payload's content type.</param>
    /// <param name="notBefore">When the task becomes ready; <see langword="default"/> for now by the store's clock.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The created task, with its id.</returns>
    public ValueTask<TaskItem> EnqueueAsync(ReadOnlyMemory<byte> payload, string? contentType = null, DateTimeOffset notBefore = default, CancellationToken cancellationToken = default) =>
        EnqueueAsync(new TaskItem { Group = Group, Payload = payload, ContentType = contentType, NotBefore = notBefore, TraceParent = CoordinationDiagnostics.CurrentTraceParent() }, cancellationToken);

    internal void SignalReady() => Interlocked.Exchange(ref _ready, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();

    private async ValueTask<TaskItem> EnqueueAsync(TaskItem task, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var created = (await Store.DoAsync([TaskOp.Create(task)], cancellationToken).ConfigureAwait(false))[0];
        SignalReady();
        return created;
    }
}
