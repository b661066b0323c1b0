namespace Coordination.Ingestion;

/// <summary>The answer of <see cref="IEventLog.AppendAsync"/>.</summary>
/// <param name="Outcome">Whether the events were appended, replayed or refused.</param>
/// <param name="Ids">The ids of the events, in order (of the first append when replayed; empty when refused).</param>
public sealed record AppendResult(AppendOutcome Outcome, IReadOnlyList<long> Ids);
