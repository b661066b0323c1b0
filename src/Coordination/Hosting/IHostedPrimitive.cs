using Microsoft.Extensions.Hosting;

namespace Coordination.AspNetCore;

/// <summary>The hosted work of one registered primitive; started and stopped by <see cref="CoordinationLifetime"/>, never by the host directly.</summary>
internal interface IHostedPrimitive : IHostedService
{
    HostedPrimitiveRole Role { get; }
}
