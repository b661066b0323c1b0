namespace Coordination.Ingestion;

/// <summary>Consecutive events of one key, from its oldest pending one, admitted by the barrier in one dispatcher pass.</summary>
/// <remarks>At most one run per key is in the workers at a time, and a run is handled in order by one worker: that,
/// not the choice of worker, is what keeps the key's order.</remarks>
internal sealed record KeyRun(string Key, IReadOnlyList<LoggedEvent> Events);
