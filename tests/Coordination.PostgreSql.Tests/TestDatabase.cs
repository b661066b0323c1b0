using Npgsql;

namespace Coordination.Tests;

/// <summary>The PostgreSQL server the tests run against: <c>COORDINATION_TEST_POSTGRES</c>, which <c>eng/test.sh</c> sets
/// after starting a throwaway cluster. Each test gets schemas of its own, so tests run in parallel.</summary>
public static class TestDatabase
{
    private const string Variable = "COORDINATION_TEST_POSTGRES";

    private static readonly Lazy<NpgsqlDataSource> Shared = new(() => NpgsqlDataSource.Create(ConnectionString));

    /// <summary>Gets the connection string; a missing server fails the test, never skips it.</summary>
    public static string ConnectionString => Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } value
        ? value
        : throw new InvalidOperationException($"{Variable} is not set: run the tests with eng/test.sh, which starts a throwaway PostgreSQL, or point {Variable} at a server of your own.");

    /// <summary>Gets a data source shared by the tests.</summary>
    public static NpgsqlDataSource DataSource => Shared.Value;

    /// <summary>Gets a new, unique schema name (the schema itself is not created).</summary>
    public static string NewSchemaName() => $"t_{Guid.NewGuid():N}"[..30];

    /// <summary>Creates a schema at the latest version and returns its name.</summary>
    public static async Task<string> CreateSchemaAsync()
    {
        var schema = NewSchemaName();
        using var migrate = DataSource.CreateCommand(Coordination.PostgreSql.PostgreSqlSchema.GetMigrationScript(schema));
        await migrate.ExecuteNonQueryAsync();
        return schema;
    }

    /// <summary>Runs one SQL statement and returns its first value.</summary>
    public static async Task<object?> ScalarAsync(string sql)
    {
        using var command = DataSource.CreateCommand(sql);
        return await command.ExecuteScalarAsync();
    }
}
