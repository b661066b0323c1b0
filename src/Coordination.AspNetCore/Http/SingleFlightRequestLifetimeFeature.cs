using Microsoft.AspNetCore.Http.Features;

namespace Coordination.AspNetCore;

/// <summary>
/// The leader's request lifetime while its endpoint runs for a flight: <c>RequestAborted</c> fires only when every
/// client of the flight has gone, and <c>Abort()</c> ends the shared response for all of them.
/// </summary>
/// <remarks>
/// Middleware inside the flight (say, <c>UseRequestTimeouts</c> after <c>UseSingleFlight</c>) may replace the token
/// with one linked to it, as it does on any request: its limit then applies to the shared run.
/// </remarks>
internal sealed class SingleFlightRequestLifetimeFeature(IHttpRequestLifetimeFeature inner, ResponseCaptureFeature capture, CancellationToken everyClientGone) : IHttpRequestLifetimeFeature
{
    public bool AbortCalled { get; private set; }

    public CancellationToken RequestAborted { get; set; } = everyClientGone;

    public void Abort()
    {
        AbortCalled = true;
        capture.Captured?.Body?.Abort();
        inner.Abort();
    }
}
