using Coordination.PostgreSql;
using Coordination.Tasks;
using Microsoft.Extensions.Logging.Abstractions;

namespace Coordination.Tests.Tasks;

/// <summary>The task-store conformance suite, unchanged, against PostgreSQL. The suite drives the store's clock, so the
/// store takes its now from the test's fake clock instead of the database's <c>now()</c> (the only difference).</summary>
public sealed class PostgreSqlTaskStoreConformanceTests : TaskStoreConformanceTests
{
    protected override ITaskStore CreateStore(TimeProvider time)
    {
        var schema = TestDatabase.CreateSchemaAsync().GetAwaiter().GetResult();
        return new PostgreSqlTaskStore(TestDatabase.DataSource, schema, NullLogger.Instance, TimeSpan.FromSeconds(5), time);
    }
}
