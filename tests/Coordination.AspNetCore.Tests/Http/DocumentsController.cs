using System.Text;
using Coordination.AspNetCore;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Net.Http.Headers;

namespace Coordination.Tests.Http;

/// <summary>An MVC file download, coalesced by the attribute alone, and its uncoalesced twin.</summary>
/// <remarks>Only apps that add this assembly as an application part (<see cref="ConditionalAndRangeTests"/>) map it.</remarks>
[ApiController]
public sealed class DocumentsController(Gate gate) : ControllerBase
{
    public static readonly byte[] Alphabet = Encoding.ASCII.GetBytes("abcdefghijklmnopqrstuvwxyz");

    [HttpGet("/mvc/doc")]
    [SingleFlight]
    public async Task<IActionResult> Coalesced()
    {
        await gate.PassAsync();
        return Document();
    }

    [HttpGet("/mvc/doc" + Twin.AloneSuffix)]
    public IActionResult Alone() => Document();

    private FileContentResult Document() => File(Alphabet, "text/plain", lastModified: null, new EntityTagHeaderValue("\"v1\""), enableRangeProcessing: true);
}
