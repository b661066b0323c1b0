using Coordination.Batching;
using Microsoft.Extensions.Options;

namespace Coordination.AspNetCore;

/// <summary>Validates batch processor options at startup; every message names the processor, option, value and allowed range.</summary>
internal sealed class BatchProcessorOptionsValidator<TResource> : IValidateOptions<BatchProcessorOptions<TResource>>
    where TResource : class
{
    public ValidateOptionsResult Validate(string? name, BatchProcessorOptions<TResource> options)
    {
        var errors = options.Validate(name ?? string.Empty).ToList();
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
