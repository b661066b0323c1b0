using Coordination.AspNetCore;
using WebApi;

var builder = WebApplication.CreateBuilder(args);

builder.Services.AddControllers();
builder.Services.AddProblemDetails();
builder.Services.AddSingleton<RunCounter>();
builder.Services.AddSingleton<Catalog>();
builder.Services.AddKeyedCoordination(coord =>
{
    // The default policy: tag each response with X-SingleFlight so the demo shows who led and who followed.
    coord.AddSingleFlight(policy => policy.EmitRoleHeader = true);

    // A named policy: only ?category matters to the catalog, so other query keys do not split flights.
    coord.AddSingleFlight("catalog", policy =>
    {
        policy.VaryByQuery("category");
        policy.EmitRoleHeader = true;
    });
});

var app = builder.Build();

app.UseExceptionHandler();
app.UseStatusCodePages();

// Fifty identical concurrent requests run the 200 ms lookup once; GET /stats shows the count.
app.MapGet("/products", (string? category, Catalog catalog, CancellationToken cancellationToken) =>
        catalog.ProductsAsync(category ?? "all", cancellationToken))
    .WithSingleFlight("catalog");

app.MapControllers();

// How many times each handler really ran.
app.MapGet("/stats", (RunCounter runs) => runs.Snapshot());

app.Run();
