namespace Coordination.AspNetCore;

/// <summary>Endpoint metadata that turns single-flight on or off; the last one added (the most specific) wins.</summary>
internal interface ISingleFlightMetadata
{
    bool IsEnabled { get; }

    string? PolicyName { get; }

    SingleFlightPolicyOptions? InlinePolicy { get; }
}

/// <summary>Single-flight from <c>.WithSingleFlight(p => ...)</c>: a policy of the endpoint's own.</summary>
internal sealed class InlineSingleFlightMetadata(SingleFlightPolicyOptions policy) : ISingleFlightMetadata
{
    public bool IsEnabled => true;

    public string? PolicyName => null;

    public SingleFlightPolicyOptions? InlinePolicy => policy;
}

/// <summary>Marks an endpoint whose request delegate a convention already wrapped, so nothing else coalesces it again.</summary>
internal sealed class SingleFlightEndpointWrappedMetadata
{
    public static readonly SingleFlightEndpointWrappedMetadata Instance = new();
}
