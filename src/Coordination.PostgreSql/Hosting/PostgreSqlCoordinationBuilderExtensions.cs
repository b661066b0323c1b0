using Coordination.Ingestion;
using Coordination.PostgreSql;
using Coordination.Tasks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Coordination.AspNetCore;

/// <summary>Puts the coordination primitives on PostgreSQL: the same application code on one node or a fleet.</summary>
public static class PostgreSqlCoordinationBuilderExtensions
{
    /// <summary>Keeps every task queue and ordered ingestion in PostgreSQL, reached through <paramref name="connectionString"/>.</summary>
    /// <param name="builder">The coordination builder.</param>
    /// <param name="connectionString">The connection string.</param>
    /// <param name="configure">Configures the backend.</param>
    /// <returns>The builder, for chaining.</returns>
    public static CoordinationBuilder UsePostgreSql(this CoordinationBuilder builder, string connectionString, Action<PostgreSqlCoordinationOptions>? configure = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(connectionString);
        return builder.UsePostgreSql(options =>
        {
            options.ConnectionString = connectionString;
            configure?.Invoke(options);
        });
    }

    /// <summary>Keeps every task queue and ordered ingestion in PostgreSQL, reached through <paramref name="dataSource"/>, which the application owns.</summary>
    /// <param name="builder">The coordination builder.</param>
    /// <param name="dataSource">The data source.</param>
    /// <param name="configure">Configures the backend.</param>
    /// <returns>The builder, for chaining.</returns>
    public static CoordinationBuilder UsePostgreSql(this CoordinationBuilder builder, NpgsqlDataSource dataSource, Action<PostgreSqlCoordinationOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(dataSource);
        return builder.UsePostgreSql(options =>
        {
            options.DataSource = dataSource;
            configure?.Invoke(options);
        });
    }

    /// <summary>Keeps every task queue and ordered ingestion in PostgreSQL. Without a connection string or a data source in
    /// <paramref name="configure"/>, the <see cref="NpgsqlDataSource"/> registered in DI (<c>AddNpgsqlDataSource</c>) is used.</summary>
    /// <param name="builder">The coordination builder.</param>
    /// <param name="configure">Configures the backend.</param>
    /// <returns>The builder, for chaining.</returns>
    /// <remarks>The schema is created or migrated when the host starts, before any worker starts
    /// (<see cref="PostgreSqlCoordinationOptions.MigrateOnStartup"/>); invalid options fail the start naming the option.</remarks>
    public static CoordinationBuilder UsePostgreSql(this CoordinationBuilder builder, Action<PostgreSqlCoordinationOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services;
        services.AddOptions<PostgreSqlCoordinationOptions>().Configure(configure ?? (static _ => { })).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<PostgreSqlCoordinationOptions>, PostgreSqlOptionsValidator>());
        services.TryAddSingleton<PostgreSqlBackend>();
        services.Replace(ServiceDescriptor.Singleton<ITaskStore>(static provider => provider.GetRequiredService<PostgreSqlBackend>().TaskStore));
        services.Replace(ServiceDescriptor.Singleton<IEventLogFactory>(static provider => provider.GetRequiredService<PostgreSqlBackend>()));
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, PostgreSqlSchemaInitializer>());
        return builder;
    }

    private sealed class PostgreSqlOptionsValidator : IValidateOptions<PostgreSqlCoordinationOptions>
    {
        public ValidateOptionsResult Validate(string? name, PostgreSqlCoordinationOptions options)
        {
            var errors = options.Validate().ToList();
            return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
        }
    }
}
