using Coordination.AspNetCore;
using Coordination.PostgreSql;
using Coordination.Tasks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Coordination.Tests.Schema;

public sealed class PostgreSqlSchemaTests
{
    [Fact]
    public async Task MigrationScript_FromManyNodesAtOnce_AppliesEachVersionOnce_AndRunsAgainHarmlessly()
    {
        var schema = TestDatabase.NewSchemaName();

        // Eight "nodes" start at once; the advisory lock serialises them, and the version table makes the rest no-ops.
        await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(async () =>
        {
            using var migrate = TestDatabase.DataSource.CreateCommand(PostgreSqlSchema.GetMigrationScript(schema));
            await migrate.ExecuteNonQueryAsync();
        })));
        using (var again = TestDatabase.DataSource.CreateCommand(PostgreSqlSchema.GetMigrationScript(schema)))
        {
            await again.ExecuteNonQueryAsync();
        }

        Assert.Equal(PostgreSqlSchema.LatestVersion, await PostgreSqlSchema.GetVersionAsync(TestDatabase.DataSource, schema));
        Assert.Equal((long)PostgreSqlSchema.LatestVersion, await TestDatabase.ScalarAsync($"select count(*) from \"{schema}\".schema_version"));
    }

    [Fact]
    public async Task GetVersion_OfAMissingSchema_IsZero() =>
        Assert.Equal(0, await PostgreSqlSchema.GetVersionAsync(TestDatabase.DataSource, TestDatabase.NewSchemaName()));

    [Theory]
    [InlineData("Coordination")]
    [InlineData("a-b")]
    [InlineData("x\"; drop table y; --")]
    [InlineData("")]
    public void GetMigrationScript_RejectsNamesThatAreNotPlainIdentifiers(string schema) =>
        Assert.ThrowsAny<ArgumentException>(() => PostgreSqlSchema.GetMigrationScript(schema));

    [Fact]
    public async Task Startup_MigratesBeforeAnyHostedServiceStarts_EvenOnesRegisteredFirst()
    {
        var schema = TestDatabase.NewSchemaName();
        var seen = new SchemaVersionProbe(schema);
        using var host = Build(services =>
        {
            services.AddSingleton<IHostedService>(seen);
            services.AddKeyedCoordination(coord =>
            {
                coord.AddTaskQueue("jobs");
                coord.UsePostgreSql(TestDatabase.ConnectionString, o => o.Schema = schema);
            });
        });

        await host.StartAsync();
        await host.StopAsync();

        Assert.Equal(PostgreSqlSchema.LatestVersion, seen.VersionAtStart);
        Assert.IsType<PostgreSqlTaskStore>(host.Services.GetRequiredKeyedService<ITaskStore>("jobs"));
    }

    [Fact]
    public async Task Startup_WithMigrationOff_AndNoSchema_FailsNamingTheScript()
    {
        var schema = TestDatabase.NewSchemaName();
        using var host = Build(services => services.AddKeyedCoordination(coord =>
            coord.UsePostgreSql(TestDatabase.ConnectionString, o => (o.Schema, o.MigrateOnStartup) = (schema, false))));

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => host.StartAsync());

        Assert.Contains($"'{schema}' is at version 0", error.Message);
        Assert.Contains("GetMigrationScript", error.Message);
    }

    [Fact]
    public async Task Startup_WithAnInvalidSchemaName_FailsNamingTheOption()
    {
        using var host = Build(services => services.AddKeyedCoordination(coord =>
            coord.UsePostgreSql(TestDatabase.ConnectionString, o => o.Schema = "Not-Valid")));

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());

        Assert.Contains("Schema", error.Message);
        Assert.Contains("Not-Valid", error.Message);
    }

    private static IHost Build(Action<IServiceCollection> configure)
    {
        var builder = Host.CreateApplicationBuilder();
        configure(builder.Services);
        return builder.Build();
    }

    /// <summary>Reads the schema's version when its own StartAsync runs.</summary>
    private sealed class SchemaVersionProbe(string schema) : IHostedService
    {
        public int VersionAtStart { get; private set; } = -1;

        public async Task StartAsync(CancellationToken cancellationToken) =>
            VersionAtStart = await PostgreSqlSchema.GetVersionAsync(TestDatabase.DataSource, schema, cancellationToken);

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
