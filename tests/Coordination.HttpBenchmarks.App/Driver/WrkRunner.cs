using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

namespace Coordination.HttpBenchmarks.Driver;

/// <summary>What one wrk run measured (from <c>wrk/report.lua</c>).</summary>
internal sealed record WrkResult(
    long Requests,
    long DurationMicroseconds,
    long Non2xx,
    long ConnectErrors,
    long ReadErrors,
    long WriteErrors,
    long Timeouts,
    long P50Microseconds,
    long P99Microseconds)
{
    public double RequestsPerSecond => Requests * 1e6 / DurationMicroseconds;

    public double P50Milliseconds => P50Microseconds / 1e3;

    public double P99Milliseconds => P99Microseconds / 1e3;

    public long SocketErrors => ConnectErrors + ReadErrors + WriteErrors + Timeouts;
}

/// <summary>Runs wrk (two threads, as on the runs) with the Lua scripts in <c>wrk/</c>.</summary>
internal sealed class WrkRunner(string executable, string workDirectory)
{
    private const int Threads = 2;
    private static readonly JsonSerializerOptions JsonOptions = new(JsonSerializerDefaults.Web);
    private static readonly string ScriptDirectory = Path.Combine(AppContext.BaseDirectory, "wrk");

    /// <summary>Every connection requests <paramref name="url"/> again and again.</summary>
    public Task<WrkResult> RunAsync(Uri url, int connections, TimeSpan duration) =>
        RunCoreAsync(url, connections, duration, "same-url", [], stopWhen: null);

    /// <summary>Every request gets a URL of its own: <paramref name="path"/><c>?k=…</c>.</summary>
    public Task<WrkResult> RunUniqueUrlsAsync(Uri baseAddress, string path, int connections, TimeSpan duration) =>
        RunCoreAsync(baseAddress, connections, duration, "unique-urls", [path], stopWhen: null);

    /// <summary>Unique URLs until <paramref name="stopWhen"/> answers true (checked every 100 ms), then wrk is
    /// interrupted (SIGINT ends its run early and it still reports).</summary>
    public Task<WrkResult> RunUniqueUrlsUntilAsync(Uri baseAddress, string path, int connections, Func<Task<bool>> stopWhen) =>
        RunCoreAsync(baseAddress, connections, TimeSpan.FromMinutes(30), "unique-urls", [path], stopWhen);

    private async Task<WrkResult> RunCoreAsync(Uri url, int connections, TimeSpan duration, string script, string[] scriptArgs, Func<Task<bool>>? stopWhen)
    {
        var scriptPath = Path.Combine(workDirectory, $"wrk-{script}.lua");
        var generator = script == "unique-urls" ? await File.ReadAllTextAsync(Path.Combine(ScriptDirectory, "unique-urls.lua")) : "";
        await File.WriteAllTextAsync(scriptPath, generator + "\n" + await File.ReadAllTextAsync(Path.Combine(ScriptDirectory, "report.lua")));

        var start = new ProcessStartInfo(executable) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in (string[])[
            "-t", Threads.ToString(CultureInfo.InvariantCulture),
            "-c", connections.ToString(CultureInfo.InvariantCulture),
            "-d", $"{(int)duration.TotalSeconds}s",
            "--timeout", "10s",
            "-s", scriptPath,
            url.ToString()])
        {
            start.ArgumentList.Add(argument);
        }

        if (scriptArgs.Length > 0)
        {
            start.ArgumentList.Add("--");
            foreach (var argument in scriptArgs)
            {
                start.ArgumentList.Add(argument);
            }
        }

        using var wrk = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {executable}.");
        var stdout = wrk.StandardOutput.ReadToEndAsync();
        var stderr = wrk.StandardError.ReadToEndAsync();
        if (stopWhen is not null)
        {
            await InterruptWhenAsync(wrk, stopWhen);
        }

        await wrk.WaitForExitAsync();
        var output = await stdout;
        var line = output.Split('\n').FirstOrDefault(l => l.StartsWith("WRK_JSON ", StringComparison.Ordinal))
            ?? throw new InvalidOperationException($"wrk exited with code {wrk.ExitCode} without a report:\n{output}\n{await stderr}");
        return JsonSerializer.Deserialize<WrkResult>(line["WRK_JSON ".Length..], JsonOptions)!;
    }

    private static async Task InterruptWhenAsync(Process wrk, Func<Task<bool>> stopWhen)
    {
        while (!wrk.HasExited)
        {
            if (await stopWhen())
            {
                using var kill = Process.Start("kill", ["-INT", wrk.Id.ToString(CultureInfo.InvariantCulture)]);
                await kill.WaitForExitAsync();
                return;
            }

            await Task.Delay(100);
        }
    }
}
