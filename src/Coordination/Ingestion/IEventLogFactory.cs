namespace Coordination.Ingestion;

/// <summary>Creates the <see cref="IEventLog"/> of each ordered ingestion that has none registered under its name: a
/// backend (<c>UsePostgreSql</c>) registers one so that every ingestion uses it. Without one, logs are in memory.</summary>
public interface IEventLogFactory
{
    /// <summary>Creates the log of one ingestion; called once per ingestion.</summary>
    /// <param name="ingestionName">The name of the ingestion.</param>
    /// <returns>The log.</returns>
    IEventLog Create(string ingestionName);
}
