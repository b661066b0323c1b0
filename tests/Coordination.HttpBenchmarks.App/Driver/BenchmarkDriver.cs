using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;

namespace Coordination.HttpBenchmarks.Driver;

/// <summary>
/// Starts the benchmark app, runs the scenarios against it with wrk and the abort client, and prints one markdown
/// table (also written to <see cref="DriverOptions.Output"/>) with the machine, the command and the load average.
/// </summary>
internal static class BenchmarkDriver
{
    /// <summary>The scenarios, in the order they run; <c>--scenarios</c> picks by number.</summary>
    private static readonly Scenario[] Scenarios =
    [
        new(1, "herd", context => HerdScenario.RunAsync(context, "1 herd (200 connections, 50 ms handler)", BenchmarkApp.SingleFlight, BenchmarkApp.OutputCache, BenchmarkApp.Plain)),
        new(2, "overhead", OverheadScenario.RunAsync),
        new(3, "endpoint without single-flight", RegistrationScenario.RunAsync),
        new(4, "many keys", ManyKeysScenario.RunAsync),
        new(5, "leader aborts", LeaderAbortScenario.RunAsync),

        new(6, "herd, cached 1 s", context => HerdScenario.RunAsync(context, "6 herd, cached for 1 s (200 connections, 50 ms handler)", BenchmarkApp.SingleFlightCached, BenchmarkApp.OutputCacheOneSecond)),
    ];

    public static async Task<int> RunAsync(string[] args)
    {
        DriverOptions options;
        try
        {
            options = DriverOptions.Parse(args);
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine(e.Message);
            return 2;
        }

        if (options.Help)
        {
            Console.WriteLine(DriverOptions.Usage);
            return 0;
        }

        Directory.CreateDirectory(options.WorkDirectory);
        var loadBefore = LoadAverage();
        var started = Stopwatch.GetTimestamp();
        var rows = new List<ResultRow>();
        List<string> logs;
        await using (var app = await AppProcess.StartAsync("app", withCoordination: true, options.WorkDirectory))
        {
            var context = new DriverContext(options, app, new WrkRunner(options.Wrk, options.WorkDirectory));
            foreach (var scenario in Scenarios.Where(s => options.Scenarios.Contains(s.Number)))
            {
                Console.Error.WriteLine($"[{DateTime.UtcNow:HH:mm:ss}] scenario {scenario.Number}: {scenario.Name}");
                rows.AddRange(await scenario.RunAsync(context));
            }

            logs = context.LogPaths;
        }

        var report = Render(options, args, loadBefore, LoadAverage(), Stopwatch.GetElapsedTime(started), rows, logs);
        Console.WriteLine(report);
        await File.WriteAllTextAsync(options.Output, report);
        Console.Error.WriteLine($"Written to {options.Output}; app logs in {options.WorkDirectory}.");
        return 0;
    }

    private static string Render(DriverOptions options, string[] args, string loadBefore, string loadAfter, TimeSpan elapsed, List<ResultRow> rows, List<string> logs)
    {
        var command = string.Join(' ', ["eng/bench-http.sh", .. args]);
        var report = new StringBuilder();
        report.AppendLine(CultureInfo.InvariantCulture, $"- {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, `{command}` ({elapsed.TotalMinutes:0.0} min)");
        report.AppendLine(CultureInfo.InvariantCulture, $"- {Environment.ProcessorCount} CPUs ({CpuModel()}), {RuntimeInformation.OSDescription}, {RuntimeInformation.FrameworkDescription}; {Wrk(options)}, 2 threads, on the same machine");
        report.AppendLine(CultureInfo.InvariantCulture, $"- load average (1, 5, 15 min) before: {loadBefore}; after: {loadAfter}");
        report.AppendLine(CultureInfo.InvariantCulture, $"- herd runs {options.HerdSeconds} s, overhead and registration runs {options.Seconds} s × {options.Rounds} rounds, abort runs {options.AbortSeconds} s, warm-ups {options.WarmupSeconds} s, many keys {options.Keys:N0}");
        report.AppendLine();
        report.Append(ResultTable.Render(rows));
        report.AppendLine();
        foreach (var log in logs)
        {
            report.AppendLine(CultureInfo.InvariantCulture, $"- warnings and errors in {Path.GetFileName(log)}: {LogSummary(log)}");
        }

        return report.ToString();
    }

    /// <summary>Log entries at warning level and above, by category and event id (console format: "fail: Category[id]").</summary>
    private static string LogSummary(string log)
    {
        var entries = File.ReadLines(log)
            .Where(line => line.StartsWith("warn: ", StringComparison.Ordinal) || line.StartsWith("fail: ", StringComparison.Ordinal) || line.StartsWith("crit: ", StringComparison.Ordinal))
            .GroupBy(line => line, StringComparer.Ordinal)
            .Select(group => $"`{group.Key}` × {group.Count():N0}")
            .ToList();
        return entries.Count == 0 ? "none" : string.Join(", ", entries);
    }

    private static string LoadAverage() =>
        File.Exists("/proc/loadavg") ? string.Join(", ", File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "unknown";

    private static string CpuModel() =>
        File.Exists("/proc/cpuinfo")
            ? File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "unknown"
            : "unknown";

    private static string Wrk(DriverOptions options)
    {
        try
        {
            using var wrk = Process.Start(new ProcessStartInfo(options.Wrk, "-v") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false })!;
            var version = wrk.StandardOutput.ReadLine() ?? "";
            wrk.WaitForExit();
            return version.Split('[')[0].Trim();
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return options.Wrk;
        }
    }

    private sealed record Scenario(int Number, string Name, Func<DriverContext, Task<IReadOnlyList<ResultRow>>> RunAsync);
}
