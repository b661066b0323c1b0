using Coordination.Ingestion;
using Microsoft.Extensions.Options;

namespace Coordination.AspNetCore;

/// <summary>Validates ordered ingestion options at startup; every message names the ingestion, option, value and allowed range.</summary>
internal sealed class OrderedIngestionOptionsValidator<TEvent> : IValidateOptions<OrderedIngestionOptions<TEvent>>
{
    public ValidateOptionsResult Validate(string? name, OrderedIngestionOptions<TEvent> options)
    {
        var errors = options.Validate(name ?? string.Empty).ToList();
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
