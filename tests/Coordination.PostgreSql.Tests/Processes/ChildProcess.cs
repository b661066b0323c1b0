using System.Diagnostics;
using System.Threading.Channels;

namespace Coordination.Tests.Processes;

/// <summary>A .NET process that a test starts from its output folder, kills, pauses and resumes, and whose standard
/// output lines it reads as they come.</summary>
internal sealed class ChildProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly Channel<string> _lines = Channel.CreateUnbounded<string>();
    private readonly List<string> _seen = [];

    private ChildProcess(Process process) => _process = process;

    public int Id => _process.Id;

    /// <summary>Gets the lines read so far by <see cref="WaitForAsync"/>.</summary>
    public IReadOnlyList<string> Seen => _seen;

    /// <summary>A test worker (Coordination.PostgreSql.TestWorker) on a queue in <paramref name="schema"/>: it prints
    /// "started 12", "completed 12", "lease-lost 12".</summary>
    public static Task<ChildProcess> StartWorkerAsync(string schema, string mode, int concurrency, int leaseSeconds) =>
        StartAsync("Coordination.PostgreSql.TestWorker.dll", [TestDatabase.ConnectionString, schema, mode, $"{concurrency}", $"{leaseSeconds}"], environment: [], ready: line => line == "ready");

    /// <summary>A test worker running the ordered ingestion "steps" on <paramref name="schema"/>: it prints "failed 12"
    /// and "handled 12", and records each handling in <c>{schema}.handled</c>.</summary>
    public static Task<ChildProcess> StartIngestionWorkerAsync(string schema, int workers, int leaseSeconds, int retryMilliseconds) =>
        StartAsync("Coordination.PostgreSql.TestWorker.dll", [TestDatabase.ConnectionString, schema, "ingest", $"{workers}", $"{leaseSeconds}", $"{retryMilliseconds}"], environment: [], ready: line => line == "ready");

    /// <summary>Starts <c>dotnet exec <paramref name="assembly"/></c> and waits for the line that says it is ready.</summary>
    public static async Task<ChildProcess> StartAsync(string assembly, IEnumerable<string> arguments, IEnumerable<KeyValuePair<string, string>> environment, Func<string, bool> ready)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardInput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = AppContext.BaseDirectory,
        };
        foreach (var argument in new[] { "exec", Path.Combine(AppContext.BaseDirectory, assembly) }.Concat(arguments))
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var (name, value) in environment)
        {
            start.Environment[name] = value;
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException($"{assembly} did not start.");
        var child = new ChildProcess(process);
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                child._lines.Writer.TryComplete();
            }
            else
            {
                child._lines.Writer.TryWrite(e.Data);
            }
        };
        process.ErrorDataReceived += (_, _) => { }; // drained so the process never blocks on a full pipe
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        await child.WaitForAsync(ready, 1);
        return child;
    }

    /// <summary>Reads lines until <paramref name="count"/> of them matched; fails if the process ends first or the
    /// default test timeout passes.</summary>
    public async Task WaitForAsync(Func<string, bool> match, int count)
    {
        using var timeout = new CancellationTokenSource(TestTimeouts.Default);
        var matched = _seen.Count(match);
        try
        {
            while (matched < count)
            {
                var line = await _lines.Reader.ReadAsync(timeout.Token);
                _seen.Add(line);
                if (match(line))
                {
                    matched++;
                }
            }
        }
        catch (Exception exception) when (exception is OperationCanceledException or ChannelClosedException)
        {
            Assert.Fail($"Process {Id}: saw {matched} of {count} expected lines before {(exception is ChannelClosedException ? "it exited" : "the timeout")}; last lines: {string.Join(" | ", _seen.TakeLast(5))}");
        }
    }

    public void SendLine(string line)
    {
        _process.StandardInput.WriteLine(line);
        _process.StandardInput.Flush();
    }

    /// <summary>kill -9: no chance to release anything.</summary>
    public async Task KillAsync()
    {
        _process.Kill(entireProcessTree: true);
        await _process.WaitForExitAsync();
    }

    public Task PauseAsync() => SignalAsync("STOP");

    public Task ResumeAsync() => SignalAsync("CONT");

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            await KillAsync();
        }

        _process.Dispose();
    }

    private async Task SignalAsync(string signal)
    {
        using var kill = Process.Start("kill", [$"-{signal}", $"{_process.Id}"]);
        await kill.WaitForExitAsync();
        Assert.Equal(0, kill.ExitCode);
    }
}
