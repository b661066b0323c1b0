using Microsoft.AspNetCore.Mvc.Filters;

namespace Coordination.AspNetCore;

/// <summary>
/// Makes identical concurrent requests to a controller, action or minimal-API handler share one execution.
/// </summary>
/// <remarks>
/// On controllers and actions the attribute works alone (it adds an MVC resource filter). On a minimal-API
/// handler use <c>.WithSingleFlight()</c>, or call <c>app.UseSingleFlight()</c>; startup fails with a clear
/// message if neither is there.
/// </remarks>
[AttributeUsage(AttributeTargets.Class | AttributeTargets.Method, AllowMultiple = false, Inherited = true)]
public sealed class SingleFlightAttribute : Attribute, ISingleFlightMetadata, IFilterFactory, IOrderedFilter
{
    /// <summary>Uses the default policy.</summary>
    public SingleFlightAttribute()
    {
    }

    /// <summary>Uses the named policy registered with <c>coord.AddSingleFlight(name, ...)</c>.</summary>
    /// <param name="policyName">The policy name (case-sensitive).</param>
    public SingleFlightAttribute(string policyName)
    {
        ArgumentException.ThrowIfNullOrEmpty(policyName);
        PolicyName = policyName;
    }

    /// <summary>Gets the policy name.</summary>
    /// <value><see langword="null"/> for the default policy.</value>
    public string? PolicyName { get; }

    /// <inheritdoc />
    bool IFilterFactory.IsReusable => true;

    /// <summary>Gets the filter order; single-flight wraps every other resource filter of the action.</summary>
    /// <value>The value is <see cref="int.MinValue"/>.</value>
    public int Order => int.MinValue;

    bool ISingleFlightMetadata.IsEnabled => true;

    SingleFlightPolicyOptions? ISingleFlightMetadata.InlinePolicy => null;

    /// <inheritdoc />
    IFilterMetadata IFilterFactory.CreateInstance(IServiceProvider serviceProvider) =>
        new SingleFlightResourceFilter(this, SingleFlightHttpServices.PolicyProvider(serviceProvider));
}
