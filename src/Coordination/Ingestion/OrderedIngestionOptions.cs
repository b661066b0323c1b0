using System.Text.Json;

namespace Coordination.Ingestion;

/// <summary>Options of an ordered ingestion.</summary>
/// <typeparam name="TEvent">The event type.</typeparam>
public sealed class OrderedIngestionOptions<TEvent>
{
    /// <summary>Gets or sets how the ordering key is read from an event. Required.</summary>
    /// <remarks>An event whose key is null or empty is rejected with 400 and nothing of its request is appended.</remarks>
    /// <value>The default value is <see langword="null"/>; startup fails until it is set.</value>
    public Func<TEvent, string?>? KeySelector { get; set; }

    /// <summary>Gets or sets how many times an event's handler runs before the event is dead-lettered.</summary>
    /// <value>The default value is 5. Allowed: 1 to 1000.</value>
    public int MaxAttempts { get; set; } = 5;

    /// <summary>Gets or sets the delay before the first retry; it doubles with every attempt, up to <see cref="MaxRetryBackoff"/>.</summary>
    /// <value>The default value is 1 second. Allowed: 0 to 1 day.</value>
    public TimeSpan RetryBackoff { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Gets or sets the longest delay between retries.</summary>
    /// <value>The default value is 5 minutes. Allowed: at least <see cref="RetryBackoff"/>.</value>
    public TimeSpan MaxRetryBackoff { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Gets or sets what happens to a key after one of its events is dead-lettered.</summary>
    /// <value>The default value is <see cref="TerminalFailureAction.Skip"/>.</value>
    public TerminalFailureAction OnTerminalFailure { get; set; } = TerminalFailureAction.Skip;

    /// <summary>Gets or sets how many workers handle events; a key is handled by one worker at a time.</summary>
    /// <value>The default value is 4 × <see cref="Environment.ProcessorCount"/>. Allowed: 1 to 1024.</value>
    public int Workers { get; set; } = 4 * Environment.ProcessorCount;

    /// <summary>Gets or sets how many pending events one dispatcher pass reads, over all the keys it reads.</summary>
    /// <value>The default value is 1000. Allowed: 1 to 100,000.</value>
    public int BatchSize { get; set; } = 1000;

    /// <summary>Gets or sets how often the dispatcher looks for due retries when nothing wakes it.</summary>
    /// <value>The default value is 100 milliseconds. Allowed: greater than zero.</value>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>Gets or sets the largest request body the ingestion endpoint accepts; the endpoint raises (or lowers)
    /// the server's own limit for its requests to match, so a value above Kestrel's default of 30,000,000 bytes works.</summary>
    /// <value>The default value is 1,048,576 bytes. Allowed: 1 byte to 100 MiB.</value>
    public int MaxRequestBodySize { get; set; } = 1024 * 1024;

    /// <summary>Gets or sets how long the log remembers a POST's <c>Idempotency-Key</c>: a retry with the same key
    /// and body within this window gets the first answer without appending again.</summary>
    /// <value>The default value is 24 hours. Allowed: 1 second to 30 days.</value>
    public TimeSpan IdempotencyWindow { get; set; } = TimeSpan.FromHours(24);

    /// <summary>Gets or sets the longest ordering key accepted, in characters; an event with a longer key is refused
    /// (400) with nothing of its request appended.</summary>
    /// <value>The default value is 256. Allowed: 1 to 512 (a key is indexed by a durable log: 512 characters of UTF-8
    /// stay within PostgreSQL's limit for an index entry).</value>
    public int MaxKeyLength { get; set; } = 256;

    /// <summary>Gets or sets how long a succeeded event stays in the log (for its status URL) before the dispatcher's
    /// sweep removes it; dead letters stay until they are replayed.</summary>
    /// <value>The default value is 1 hour. Allowed: 1 second to 365 days. The sweep runs every minute (or every
    /// retention, when shorter), on the process that dispatches.</value>
    public TimeSpan SucceededEventRetention { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Gets or sets how many events of one key may be in the workers at once while the key drains after a dead letter.</summary>
    /// <value>The default value is 1. Allowed: at least 1.</value>
    public int DrainConcurrencyLimit { get; set; } = 1;

    /// <summary>Gets or sets the JSON options events are read and stored with; use one with a source-generated context for AOT.</summary>
    /// <value>The default value is <see langword="null"/>: <see cref="JsonSerializerOptions.Web"/>.</value>
    public JsonSerializerOptions? SerializerOptions { get; set; }

    internal IEnumerable<string> Validate(string name)
    {
        if (KeySelector is null)
        {
            yield return $"Ordered ingestion '{name}': {nameof(KeySelector)} is not set; it must read the ordering key from an event.";
        }

        if (SucceededEventRetention < TimeSpan.FromSeconds(1) || SucceededEventRetention > TimeSpan.FromDays(365))
        {
            yield return $"Ordered ingestion '{name}': {nameof(SucceededEventRetention)} is {SucceededEventRetention}; allowed 00:00:01 to 365.00:00:00.";
        }

        if (MaxKeyLength is < 1 or > 512)
        {
            yield return $"Ordered ingestion '{name}': {nameof(MaxKeyLength)} is {MaxKeyLength}; allowed 1 to 512.";
        }

        if (MaxAttempts is < 1 or > 1000)
        {
            yield return $"Ordered ingestion '{name}': {nameof(MaxAttempts)} is {MaxAttempts}; allowed 1 to 1000.";
        }

        if (RetryBackoff < TimeSpan.Zero || RetryBackoff > TimeSpan.FromDays(1))
        {
            yield return $"Ordered ingestion '{name}': {nameof(RetryBackoff)} is {RetryBackoff}; allowed 0 to 1.00:00:00.";
        }

        if (MaxRetryBackoff < RetryBackoff)
        {
            yield return $"Ordered ingestion '{name}': {nameof(MaxRetryBackoff)} is {MaxRetryBackoff}; allowed at least {nameof(RetryBackoff)} ({RetryBackoff}).";
        }

        if (Workers is < 1 or > 1024)
        {
            yield return $"Ordered ingestion '{name}': {nameof(Workers)} is {Workers}; allowed 1 to 1024.";
        }

        if (BatchSize is < 1 or > 100_000)
        {
            yield return $"Ordered ingestion '{name}': {nameof(BatchSize)} is {BatchSize}; allowed 1 to 100000.";
        }

        if (PollInterval <= TimeSpan.Zero)
        {
            yield return $"Ordered ingestion '{name}': {nameof(PollInterval)} is {PollInterval}; allowed greater than zero.";
        }

        if (MaxRequestBodySize is < 1 or > 100 * 1024 * 1024)
        {
            yield return $"Ordered ingestion '{name}': {nameof(MaxRequestBodySize)} is {MaxRequestBodySize}; allowed 1 to {100 * 1024 * 1024}.";
        }

        if (IdempotencyWindow < TimeSpan.FromSeconds(1) || IdempotencyWindow > TimeSpan.FromDays(30))
        {
            yield return $"Ordered ingestion '{name}': {nameof(IdempotencyWindow)} is {IdempotencyWindow}; allowed 00:00:01 to 30.00:00:00.";
        }

        if (DrainConcurrencyLimit < 1)
        {
            yield return $"Ordered ingestion '{name}': {nameof(DrainConcurrencyLimit)} is {DrainConcurrencyLimit}; allowed at least 1.";
        }
    }
}
