using Microsoft.Extensions.Time.Testing;

namespace Coordination.Tests;

internal static class FakeTimeProviderExtensions
{
    /// <summary>Moves the clock a step at a time until the condition holds.</summary>
    /// <remarks>One <see cref="FakeTimeProvider.Advance"/> fires only the timers that exist at that moment; code that
    /// signals "started" a moment before it creates its timer needs the clock to move again afterwards.</remarks>
    public static void AdvanceUntil(this FakeTimeProvider time, Func<bool> condition, TimeSpan step, string what)
    {
        for (var i = 0; i < 600; i++)
        {
            if (SpinWait.SpinUntil(condition, TimeSpan.FromMilliseconds(50)))
            {
                return;
            }

            time.Advance(step);
        }

        Assert.Fail($"Timed out advancing the clock until {what}.");
    }
}
