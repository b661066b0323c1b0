using Microsoft.Extensions.Hosting;

namespace Coordination.PostgreSql;

/// <summary>Migrates the schema (or checks its version) when the host starts, before any hosted service's
/// <c>StartAsync</c>, so no worker ever runs against a missing or outdated schema.</summary>
internal sealed class PostgreSqlSchemaInitializer(PostgreSqlBackend backend) : IHostedLifecycleService
{
    public async Task StartingAsync(CancellationToken cancellationToken)
    {
        var schema = backend.Options.Schema;
        if (backend.Options.MigrateOnStartup)
        {
            using var migrate = backend.DataSource.CreateCommand(PostgreSqlSchema.GetMigrationScript(schema));
            await migrate.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        var version = await PostgreSqlSchema.GetVersionAsync(backend.DataSource, schema, cancellationToken).ConfigureAwait(false);
        if (version < PostgreSqlSchema.LatestVersion)
        {
            throw new InvalidOperationException(
                $"PostgreSQL schema '{schema}' is at version {version}; this library needs version {PostgreSqlSchema.LatestVersion}. " +
                $"Apply PostgreSqlSchema.GetMigrationScript(\"{schema}\"), or turn {nameof(PostgreSqlCoordinationOptions.MigrateOnStartup)} on.");
        }

        PostgreSqlLog.SchemaMigrated(backend.Logger, schema, version);
    }

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
