using Microsoft.Extensions.Options;

namespace Coordination;

/// <summary>Turns the error lists of the options' own Validate methods into exceptions or startup validation results.</summary>
internal static class OptionsValidation
{
    /// <summary>The name shown for unnamed options.</summary>
    public const string DefaultName = "default";

    /// <summary>The longest delay a timer accepts (<c>Task.Delay</c>, <c>CancellationTokenSource.CancelAfter</c>,
    /// <c>ITimer</c>): 4,294,967,294 ms, about 49.7 days. A longer one throws where the timer is created.</summary>
    public static readonly TimeSpan MaxTimerDelay = TimeSpan.FromMilliseconds(uint.MaxValue - 1);

    /// <summary>Whether <paramref name="value"/> is a delay a timer accepts: greater than zero and at most <see cref="MaxTimerDelay"/>.</summary>
    public static bool IsTimerDelay(TimeSpan value) => value > TimeSpan.Zero && value <= MaxTimerDelay;

    /// <summary>Throws one <see cref="ArgumentException"/> listing every error, if there are any.</summary>
    public static void ThrowIfInvalid(IEnumerable<string> errors, string paramName)
    {
        var list = errors.ToList();
        if (list.Count > 0)
        {
            throw new ArgumentException(string.Join(Environment.NewLine, list), paramName);
        }
    }

    /// <summary>Validates named options at startup through their own Validate method.</summary>
    public static IValidateOptions<TOptions> Validator<TOptions>(Func<TOptions, string, IEnumerable<string>> validate)
        where TOptions : class => new DelegateValidator<TOptions>(validate);

    private sealed class DelegateValidator<TOptions>(Func<TOptions, string, IEnumerable<string>> validate) : IValidateOptions<TOptions>
        where TOptions : class
    {
        public ValidateOptionsResult Validate(string? name, TOptions options)
        {
            var errors = validate(options, string.IsNullOrEmpty(name) ? DefaultName : name).ToList();
            return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
        }
    }
}
