namespace Coordination.HttpBenchmarks.Driver;

/// <summary>
/// Warms apps up until tiered compilation has settled. It recompiles a variant's hot methods for several seconds after
/// its load starts, on a background thread that the load starves of CPU: a first run once measured single-flight at
/// 0.82× and 0.80× of plain in its first two rounds, then 0.90–1.04×. So a pass of load is repeated until, in every app, it compiled fewer
/// than 1% of the methods compiled so far (a trickle of tens per pass goes on for minutes), at most
/// <see cref="MaxPasses"/> times.
/// </summary>
internal static class JitWarmUp
{
    private const double SettledFraction = 0.01;
    private const int MaxPasses = 8;

    /// <summary>Runs <paramref name="pass"/> until the apps' JIT settles; says how long that took, for the report.</summary>
    public static async Task<string> RunAsync(IReadOnlyList<AppProcess> apps, TimeSpan passPerVariant, Func<Task> pass)
    {
        var compiled = await CompiledAsync(apps);
        var counts = new List<string>();
        for (var number = 1; ; number++)
        {
            await pass();
            var before = compiled;
            compiled = await CompiledAsync(apps);
            var added = compiled.Zip(before, (now, then) => now - then).ToArray();
            counts.Add(string.Join(" + ", added));
            var settled = added.Zip(compiled, (count, total) => count < total * SettledFraction).All(s => s);
            if (settled || number == MaxPasses)
            {
                return $"warm-up: {number} passes of {passPerVariant.TotalSeconds:F0} s per variant, compiling {string.Join(", ", counts)} methods";
            }
        }
    }

    private static async Task<long[]> CompiledAsync(IReadOnlyList<AppProcess> apps)
    {
        var counts = new long[apps.Count];
        for (var i = 0; i < apps.Count; i++)
        {
            counts[i] = (await apps[i].ProcessAsync()).CompiledMethods;
        }

        return counts;
    }
}
