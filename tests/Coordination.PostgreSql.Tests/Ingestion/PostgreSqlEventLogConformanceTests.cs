using Coordination.Ingestion;
using Coordination.PostgreSql;

namespace Coordination.Tests.Ingestion;

/// <summary>The event-log conformance suite, unchanged, against PostgreSQL (a schema per test).</summary>
public sealed class PostgreSqlEventLogConformanceTests : EventLogConformanceTests
{
    protected override IEventLog CreateLog(TimeProvider time)
    {
        var schema = TestDatabase.CreateSchemaAsync().GetAwaiter().GetResult();
        return new PostgreSqlEventLog(TestDatabase.DataSource, "orders", schema, time);
    }
}
