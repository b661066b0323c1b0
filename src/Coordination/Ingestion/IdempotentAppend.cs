namespace Coordination.Ingestion;

/// <summary>Makes an append idempotent: a second append with the same <see cref="Scope"/> and <see cref="Key"/> within
/// <see cref="Window"/> returns the first one's ids instead of appending.</summary>
/// <param name="Scope">Who the key belongs to (the authenticated user), or <see langword="null"/> for anonymous requests.</param>
/// <param name="Key">The client's idempotency key.</param>
/// <param name="Fingerprint">A hash of the request; the same key with another fingerprint is refused.</param>
/// <param name="Window">How long after the first append the key is remembered, by the log's clock.</param>
public sealed record IdempotentAppend(string? Scope, string Key, string Fingerprint, TimeSpan Window);
