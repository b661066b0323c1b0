using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Coordination.Diagnostics;

namespace Coordination.Tasks;

/// <summary>A durable task: a payload in a group, ready from <see cref="NotBefore"/>, claimed with a lease.</summary>
/// <remarks>
/// <para><see cref="Id"/> is stable for the task's whole life and never reused. <see cref="LeaseVersion"/> is the fencing
/// token: every claim increments it, and every renewal and completion must name (Id, LeaseVersion), so a holder whose
/// lease was taken over changes nothing (<see cref="LeaseLostException"/>).</para>
/// <para>A leased task is one whose <see cref="NotBefore"/> lies in the future: a claim moves it to now + own-for.</para>
/// </remarks>
public sealed record TaskItem
{
    /// <summary>Gets the task id; assigned by the store when the task is created (0 before).</summary>
    public long Id { get; init; }

    /// <summary>Gets the fencing token, incremented by every claim.</summary>
    public long LeaseVersion { get; init; }

    /// <summary>Gets the group (queue) the task is in.</summary>
    public required string Group { get; init; }

    /// <summary>Gets when the task is ready to be claimed; the store's clock is the only clock.</summary>
    /// <value>When creating, <see langword="default"/> means now.</value>
    public DateTimeOffset NotBefore { get; init; }

    /// <summary>Gets when the task became ready, or becomes ready: set by the store when the task is created, updated,
    /// moved, disowned or released, and left alone by claims and renewals.</summary>
    /// <value>Set by the store; a value given when creating or updating is ignored. At a claim, now minus
    /// <see cref="ReadyAt"/> is how long the task waited in the queue (a lease that ran out counts as waiting).</value>
    public DateTimeOffset ReadyAt { get; init; }

    /// <summary>Gets how many times the task was claimed.</summary>
    public int Attempts { get; init; }

    /// <summary>Gets the error text of a task moved to an error group.</summary>
    public string? Error { get; init; }

    /// <summary>Gets the payload.</summary>
    public ReadOnlyMemory<byte> Payload { get; init; }

    /// <summary>Gets the payload's content type.</summary>
    /// <value>For <see cref="Create{T}"/>, <c>application/json</c>.</value>
    public string? ContentType { get; init; }

    /// <summary>Gets the W3C trace context (<c>traceparent</c>) of the code that created the task: the worker's activity
    /// for the task continues that trace, so a request and the task it enqueued show up as one trace.</summary>
    /// <value>Set from <see cref="Activity.Current"/> by <see cref="Create{T}"/> and <c>TaskQueue.EnqueueAsync</c>;
    /// <see langword="null"/> when there was no activity.</value>
    public string? TraceParent { get; init; }

    /// <summary>Creates a task whose payload is <paramref name="payload"/> as JSON.</summary>
    /// <typeparam name="T">The payload type.</typeparam>
    /// <param name="group">The group.</param>
    /// <param name="payload">The payload.</param>
    /// <param name="typeInfo">The JSON contract (source-generated or from <see cref="JsonSerializerOptions.GetTypeInfo"/>).</param>
    /// <returns>A task to create with <see cref="TaskOp.Create"/>; it carries the current trace context.</returns>
    public static TaskItem Create<T>(string group, T payload, JsonTypeInfo<T> typeInfo)
    {
        ArgumentException.ThrowIfNullOrEmpty(group);
        return new TaskItem { Group = group, Payload = JsonSerializer.SerializeToUtf8Bytes(payload, typeInfo), ContentType = "application/json", TraceParent = CoordinationDiagnostics.CurrentTraceParent() };
    }

    /// <summary>Reads the JSON payload.</summary>
    /// <typeparam name="T">The payload type.</typeparam>
    /// <param name="typeInfo">The JSON contract.</param>
    /// <returns>The payload.</returns>
    public T? ReadPayload<T>(JsonTypeInfo<T> typeInfo) => JsonSerializer.Deserialize(Payload.Span, typeInfo);
}
