using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Coordination.PostgreSql;

/// <summary>The PostgreSQL backend of one application: its data source, schema and stores (a singleton).</summary>
internal sealed class PostgreSqlBackend : IAsyncDisposable
{
    private readonly NpgsqlDataSource? _ownedDataSource;

    public PostgreSqlBackend(IOptions<PostgreSqlCoordinationOptions> options, IServiceProvider services, ILoggerFactory loggerFactory)
    {
        var settings = options.Value;
        if (settings.DataSource is null && settings.ConnectionString is not null)
        {
            _ownedDataSource = NpgsqlDataSource.Create(settings.ConnectionString);
        }

        DataSource = settings.DataSource ?? _ownedDataSource ?? services.GetService<NpgsqlDataSource>()
            ?? throw new InvalidOperationException("UsePostgreSql: no connection string, no data source, and no NpgsqlDataSource registered in DI (AddNpgsqlDataSource). Give one of them.");
        Options = settings;
        Logger = loggerFactory.CreateLogger("Coordination.PostgreSql");
        TaskStore = new PostgreSqlTaskStore(DataSource, settings.Schema, Logger, settings.NotificationCheckTimeout, clock: null);
    }

    public NpgsqlDataSource DataSource { get; }

    public PostgreSqlCoordinationOptions Options { get; }

    public ILogger Logger { get; }

    public PostgreSqlTaskStore TaskStore { get; }

    public async ValueTask DisposeAsync()
    {
        await TaskStore.DisposeAsync().ConfigureAwait(false);
        if (_ownedDataSource is not null)
        {
            await _ownedDataSource.DisposeAsync().ConfigureAwait(false);
        }
    }
}
