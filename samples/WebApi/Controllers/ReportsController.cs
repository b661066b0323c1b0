using Coordination.AspNetCore;
using Microsoft.AspNetCore.Mvc;

namespace WebApi.Controllers;

[ApiController]
[Route("reports")]
public sealed class ReportsController(Catalog catalog) : ControllerBase
{
    // [SingleFlight] alone coalesces a controller action: identical concurrent requests build the report once.
    [HttpGet("{id:int}")]
    [SingleFlight]
    public Task<Report> Get(int id, CancellationToken cancellationToken) => catalog.ReportAsync(id, cancellationToken);

    // Opting out: every request runs.
    [HttpGet("{id:int}/fresh")]
    [DisableSingleFlight]
    public Task<Report> Fresh(int id, CancellationToken cancellationToken) => catalog.ReportAsync(id, cancellationToken);
}
