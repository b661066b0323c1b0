namespace Coordination.AspNetCore;

/// <summary>Opts a controller, action, minimal-API handler or endpoint out of single-flight.</summary>
/// <remarks>The most specific metadata wins: a <c>[DisableSingleFlight]</c> action of a <c>[SingleFlight]</c>
/// controller runs uncoalesced, and so does an endpoint with <c>.DisableSingleFlight()</c> in a group with
/// <c>.WithSingleFlight()</c>.</remarks>
[AttributeUsage(AttributeTargets.Class | AttributeTargets.Method, AllowMultiple = false, Inherited = true)]
public sealed class DisableSingleFlightAttribute : Attribute, ISingleFlightMetadata
{
    bool ISingleFlightMetadata.IsEnabled => false;

    string? ISingleFlightMetadata.PolicyName => null;

    SingleFlightPolicyOptions? ISingleFlightMetadata.InlinePolicy => null;
}
