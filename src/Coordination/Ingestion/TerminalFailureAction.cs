namespace Coordination.Ingestion;

/// <summary>What happens to a key after one of its events is dead-lettered.</summary>
public enum TerminalFailureAction
{
    /// <summary>The key goes on with its next events, draining one at a time until one succeeds.</summary>
    Skip = 0,

    /// <summary>The rest of the key is held until an operator releases it (<c>POST {pattern}/keys/{key}/release</c>).</summary>
    ParkKey = 1,
}
