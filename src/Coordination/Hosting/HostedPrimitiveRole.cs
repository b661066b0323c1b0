namespace Coordination.AspNetCore;

/// <summary>What a primitive's hosted work does for the others; decides when <see cref="CoordinationLifetime"/> stops it.</summary>
internal enum HostedPrimitiveRole
{
    /// <summary>Runs user code that may call other primitives (ingestion dispatchers, task workers): stopped first.</summary>
    ProducesWork,

    /// <summary>Serves calls from that code (batch processors): stopped once nothing produces work any more.</summary>
    ServesWork,
}
