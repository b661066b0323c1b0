using Coordination.SingleFlight;
using Microsoft.Extensions.Options;

namespace Coordination.AspNetCore;

/// <summary>Validates single-flight options at startup; every message names the primitive, option, value and allowed range.</summary>
internal sealed class SingleFlightOptionsValidator : IValidateOptions<SingleFlightPolicyOptions>, IValidateOptions<SingleFlightGroupOptions>
{
    public ValidateOptionsResult Validate(string? name, SingleFlightPolicyOptions options) =>
        Result(options.Validate(DisplayName(name)));

    public ValidateOptionsResult Validate(string? name, SingleFlightGroupOptions options) =>
        Result(options.Validate(DisplayName(name)));

    private static string DisplayName(string? name) =>
        string.IsNullOrEmpty(name) ? SingleFlightPolicyProvider.DefaultPolicyName : name;

    private static ValidateOptionsResult Result(IEnumerable<string> errors)
    {
        var list = errors.ToList();
        return list.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(list);
    }
}
