using System.Collections.Concurrent;
using System.Text.Json;
using System.Text.Json.Serialization;
using Coordination.Tasks;

namespace WebApi;

/// <summary>An email to send.</summary>
public sealed record Email(string To, string Subject, string Body);

/// <summary>The JSON contract of the email task payload.</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(Email))]
public sealed partial class EmailJson : JsonSerializerContext;

/// <summary>"Sends" an email task: records it in the <see cref="Outbox"/>.</summary>
/// <remarks>A recipient at <c>example.invalid</c> fails for good (the task moves to <c>emails.errors</c>); the subject
/// <c>flaky</c> fails on its first two attempts and is retried with backoff.</remarks>
public sealed class SendEmailHandler(Outbox outbox, RunCounter runs, TimeProvider timeProvider) : ITaskHandler
{
    /// <summary>How long "sending" takes, so GET /tasks/emails shows leased tasks under load.</summary>
    public static readonly TimeSpan SimulatedWork = TimeSpan.FromMilliseconds(20);

    public async Task HandleAsync(TaskItem task, CancellationToken cancellationToken)
    {
        runs.Ran("emails.handled");
        var email = task.ReadPayload(EmailJson.Default.Email) ?? throw new PermanentTaskException("The task has no email.");
        if (email.To.EndsWith("@example.invalid", StringComparison.OrdinalIgnoreCase))
        {
            throw new PermanentTaskException($"No such mailbox: {email.To}.");
        }

        if (email.Subject == "flaky" && task.Attempts <= 2)
        {
            throw new InvalidOperationException("The mail server was briefly unavailable.");
        }

        await Task.Delay(SimulatedWork, timeProvider, cancellationToken);

        // Delivery is at least once: the outbox keeps one entry per task id, so a repeated run changes nothing.
        outbox.Sent(task.Id, email);
    }
}

/// <summary>The emails "sent", by task id.</summary>
public sealed class Outbox
{
    private readonly ConcurrentDictionary<long, Email> _sent = new();

    public int Count => _sent.Count;

    public void Sent(long taskId, Email email) => _sent.TryAdd(taskId, email);

    public IReadOnlyList<Email> Snapshot() => [.. _sent.OrderBy(e => e.Key).Select(e => e.Value)];
}
