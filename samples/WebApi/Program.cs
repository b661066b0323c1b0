using Coordination.AspNetCore;
using Coordination.Batching;
using Coordination.PostgreSql;
using Coordination.Tasks;
using Npgsql;
using WebApi;

var builder = WebApplication.CreateBuilder(args);

// Metrics and traces: the library's, ASP.NET Core's and the runtime's; scraped by Prometheus at /metrics, and sent over
// OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set. docs/observability.md has the dashboard that reads them.
builder.AddSampleTelemetry();

builder.Services.AddControllers();
builder.Services.AddProblemDetails();
builder.Services.AddSingleton<RunCounter>();
builder.Services.AddSingleton<Catalog>();
builder.Services.AddSingleton<CounterDatabase>();
builder.Services.AddSingleton<Outbox>();

// In memory by default. With ConnectionStrings:Coordination set, the task queues and the order events live in
// PostgreSQL: they survive restarts, and every instance of the service on the same database shares them (the schema
// is created at startup). The "Coordination" section configures the backend (Schema, DispatchLeaseDuration, ...), and
// the ledger the order events feed lives in the same database.
var connectionString = builder.Configuration.GetConnectionString("Coordination");
if (connectionString is { Length: > 0 })
{
    var schema = builder.Configuration["Coordination:Schema"] ?? PostgreSqlSchema.DefaultSchema;
    builder.Services.AddSingleton(_ => NpgsqlDataSource.Create(connectionString));
    builder.Services.AddSingleton(services => new PostgreSqlLedger(services.GetRequiredService<NpgsqlDataSource>(), schema));
    builder.Services.AddSingleton<ILedger>(services => services.GetRequiredService<PostgreSqlLedger>());
    builder.Services.AddHostedService(services => services.GetRequiredService<PostgreSqlLedger>()); // before the handlers start
}
else
{
    builder.Services.AddSingleton<ILedger, InMemoryLedger>();
}

builder.Services.AddKeyedCoordination(coord =>
{
    // The default policy: tag each response with X-SingleFlight so the demo shows who led and who followed.
    coord.AddSingleFlight(policy => policy.EmitRoleHeader = true);

    // A named policy: only ?category matters to the catalog, so other query keys do not split flights. Each response
    // is also kept for a second after its flight (micro-caching), so a steady stream of requests runs the lookup about
    // once a second, not once per 200 ms.
    coord.AddSingleFlight("catalog", policy =>
    {
        policy.VaryByQuery("category").CacheFor(TimeSpan.FromSeconds(1));
        policy.EmitRoleHeader = true;
    });

    // Concurrent increments of one counter share one load and one save (group commit); 10,000 may wait per counter.
    coord.AddBatchProcessor<CounterState, CounterStore>("counters", options => options.MaxPendingPerKey = 10_000);

    // Order events are handled per account in order; a failure holds the account's later events until it succeeds.
    coord.AddOrderedIngestion<OrderEvent, OrderEventHandler>("orders", options =>
    {
        options.KeySelector = e => e.AccountId;
        options.RetryBackoff = TimeSpan.FromMilliseconds(500);
    });

    // Durable tasks claimed with leases: four emails are sent at once; failures retry with backoff, then go to emails.errors.
    coord.AddTaskQueue("emails", options => options.RetryBackoff = TimeSpan.FromMilliseconds(200))
        .AddWorker<SendEmailHandler>(options => options.Concurrency = 4);

    if (connectionString is { Length: > 0 })
    {
        coord.UsePostgreSql(options => builder.Configuration.GetSection("Coordination").Bind(options)); // the data source above
    }
});

var app = builder.Build();

app.UseExceptionHandler();
app.UseStatusCodePages();
app.MapSampleTelemetry();

// Fifty identical concurrent requests run the 200 ms lookup once; GET /stats shows the count.
app.MapGet("/products", (string? category, Catalog catalog, CancellationToken cancellationToken) =>
        catalog.ProductsAsync(category ?? "all", cancellationToken))
    .WithSingleFlight("catalog");

app.MapControllers();

// Many concurrent increments of one counter: GET /stats shows far fewer counters.loads and counters.saves than requests.
app.MapPost("/counters/{id}/increment", async (string id, [FromKeyedServices("counters")] BatchProcessor<CounterState> counters, CancellationToken cancellationToken) =>
{
    try
    {
        var value = await counters.RunAsync(id, counter => ++counter.Value, cancellationToken);
        return Results.Ok(new { id, value });
    }
    catch (BatchQueueFullException exception)
    {
        return Results.Problem(exception.Message, statusCode: StatusCodes.Status429TooManyRequests);
    }
    catch (Exception exception) when (exception is BatchAbortedException or BatchProcessorStoppedException)
    {
        return Results.Problem(exception.Message, statusCode: StatusCodes.Status503ServiceUnavailable);
    }
});

// POST one order event or an array → 202 with ids and status URLs; GET /orders/events/{id} → state, attempts,
// last error, blocking id; POST /orders/events/keys/{account}/release → releases a parked account.
app.MapOrderedIngestion<OrderEvent>("/orders/events", "orders");
app.MapGet("/balances", (ILedger ledger, CancellationToken cancellationToken) => ledger.BalancesAsync(cancellationToken));

// POST an email → 202 with the task id; a worker sends it. GET /tasks/emails → ready, leased, scheduled and error counts.
app.MapPost("/emails", async (Email email, [FromKeyedServices("emails")] TaskQueue emails, CancellationToken cancellationToken) =>
{
    if (string.IsNullOrWhiteSpace(email.To) || !email.To.Contains('@', StringComparison.Ordinal))
    {
        return Results.ValidationProblem(new Dictionary<string, string[]> { ["to"] = ["An email address is required."] });
    }

    var task = await emails.EnqueueAsync(email, EmailJson.Default.Email, cancellationToken: cancellationToken);
    return Results.Accepted("/tasks/emails", new { id = task.Id });
});
app.MapGet("/emails/sent", (Outbox outbox) => outbox.Snapshot());
app.MapGet("/tasks/{queue}", async (string queue, IServiceProvider services, CancellationToken cancellationToken) =>
{
    if (services.GetKeyedService<TaskQueue>(queue) is not { } tasks)
    {
        return Results.Problem($"There is no task queue '{queue}'.", statusCode: StatusCodes.Status404NotFound);
    }

    var counts = await tasks.Store.CountAsync(tasks.Group, cancellationToken);
    var errors = await tasks.Store.CountAsync(tasks.ErrorGroup, cancellationToken);
    return Results.Ok(new { queue, tasks.Group, counts.Ready, counts.Leased, counts.Scheduled, Errors = errors.Total });
});

// How many times each handler really ran.
app.MapGet("/stats", (RunCounter runs) => runs.Snapshot());

app.Run();
