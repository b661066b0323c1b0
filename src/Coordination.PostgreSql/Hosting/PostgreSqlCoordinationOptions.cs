using Npgsql;

namespace Coordination.PostgreSql;

/// <summary>Options of the PostgreSQL backend, set through <c>UsePostgreSql</c>.</summary>
public sealed class PostgreSqlCoordinationOptions
{
    /// <summary>Gets or sets the connection string; used when <see cref="DataSource"/> is not set.</summary>
    /// <value>The default value is <see langword="null"/>: the <see cref="NpgsqlDataSource"/> registered in DI
    /// (<c>AddNpgsqlDataSource</c>) is used.</value>
    public string? ConnectionString { get; set; }

    /// <summary>Gets or sets the data source to use.</summary>
    /// <value>The default value is <see langword="null"/>: one is built from <see cref="ConnectionString"/>, or taken from DI.</value>
    public NpgsqlDataSource? DataSource { get; set; }

    /// <summary>Gets or sets the schema the backend's tables live in.</summary>
    /// <value>The default value is <c>coordination</c>. Allowed: lowercase letters, digits and underscores, starting with a
    /// letter or an underscore, at most 50 characters.</value>
    public string Schema { get; set; } = PostgreSqlSchema.DefaultSchema;

    /// <summary>Gets or sets whether the schema is created and migrated at startup, before any worker starts.</summary>
    /// <value>The default value is <see langword="true"/>. Turn it off when you apply
    /// <see cref="PostgreSqlSchema.GetMigrationScript"/> with your own migration tool.</value>
    public bool MigrateOnStartup { get; set; } = true;

    /// <summary>Gets or sets how long an idle process waits for its own test notification at startup before it warns
    /// that wake-ups do not arrive (a transaction-pooling proxy between the app and the server drops them).</summary>
    /// <value>The default value is 5 seconds. Allowed: greater than zero.</value>
    public TimeSpan NotificationCheckTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Gets or sets how long the dispatch lease of an ordered ingestion lasts without renewal: one process of a
    /// fleet dispatches an ingestion's events, and after it crashes another takes over once its lease lapsed (at a
    /// graceful stop it releases the lease, and another takes over at once).</summary>
    /// <value>The default value is 15 seconds. Allowed: 1 second to 10 minutes. Renewed every third of it, so a process
    /// that cannot reach the database for this long loses the lease.</value>
    public TimeSpan DispatchLeaseDuration { get; set; } = TimeSpan.FromSeconds(15);

    internal IEnumerable<string> Validate()
    {
        string? schemaError = null;
        try
        {
            PostgreSqlSchema.Quote(Schema);
        }
        catch (ArgumentException exception)
        {
            schemaError = $"PostgreSQL: {nameof(Schema)}: {exception.Message}";
        }

        if (schemaError is not null)
        {
            yield return schemaError;
        }

        if (NotificationCheckTimeout <= TimeSpan.Zero || NotificationCheckTimeout > TimeSpan.FromHours(1))
        {
            yield return $"PostgreSQL: {nameof(NotificationCheckTimeout)} is {NotificationCheckTimeout}; allowed greater than zero, at most 01:00:00.";
        }

        if (DispatchLeaseDuration < TimeSpan.FromSeconds(1) || DispatchLeaseDuration > TimeSpan.FromMinutes(10))
        {
            yield return $"PostgreSQL: {nameof(DispatchLeaseDuration)} is {DispatchLeaseDuration}; allowed 00:00:01 to 00:10:00.";
        }
    }
}
