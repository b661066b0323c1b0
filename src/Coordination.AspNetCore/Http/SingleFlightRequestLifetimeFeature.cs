using Microsoft.AspNetCore.Http.Features;

namespace Coordination.AspNetCore;

/// <summary>
/// The leader's request lifetime while its endpoint runs for a flight: <c>RequestAborted</c> fires only when every
/// client of the flight has gone, and <c>Abort()</c> ends the shared response for all of them.
/// </summary>
internal sealed class SingleFlightRequestLifetimeFeature(IHttpRequestLifetimeFeature inner, Action aborted, CancellationToken everyClientGone) : IHttpRequestLifetimeFeature
{
    public bool AbortCalled { get; private set; }

    public CancellationToken RequestAborted
    {
        get => everyClientGone;
        set => throw new NotSupportedException("The request-aborted token of a coalesced request is shared by every client of the flight and cannot be replaced.");
    }

    public void Abort()
    {
        AbortCalled = true;
        aborted();
        inner.Abort();
    }
}
