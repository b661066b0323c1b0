using Coordination.Ingestion;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Coordination.PostgreSql;

/// <summary>The PostgreSQL backend of one application: its data source, schema and stores (a singleton); it creates
/// the event log of every ordered ingestion.</summary>
internal sealed class PostgreSqlBackend : IEventLogFactory, IAsyncDisposable
{
    private readonly NpgsqlDataSource? _ownedDataSource;
    private readonly TimeProvider _timeProvider;

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
        _timeProvider = services.GetService<TimeProvider>() ?? TimeProvider.System;
        TaskStore = new PostgreSqlTaskStore(DataSource, settings.Schema, Logger, settings.NotificationCheckTimeout, clock: null);
    }

    public NpgsqlDataSource DataSource { get; }

    public PostgreSqlCoordinationOptions Options { get; }

    public ILogger Logger { get; }

    public PostgreSqlTaskStore TaskStore { get; }

    public IEventLog Create(string ingestionName) => new PostgreSqlEventLog(DataSource, ingestionName, Options.Schema, _timeProvider, Options.DispatchLeaseDuration);

    public async ValueTask DisposeAsync()
    {
        await TaskStore.DisposeAsync().ConfigureAwait(false);
        if (_ownedDataSource is not null)
        {
            await _ownedDataSource.DisposeAsync().ConfigureAwait(false);
        }
    }
}
