using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;

namespace Coordination.HttpBenchmarks.Driver;

/// <summary>One benchmark app process (this executable's <c>serve</c> mode) on a free loopback port, with, when asked,
/// more apps without the library in the same process on ports of their own; its output goes to a log file.</summary>
internal sealed class AppProcess : IAsyncDisposable
{
    private static readonly TimeSpan StartupTimeout = TimeSpan.FromSeconds(60);

    private readonly Process _process;
    private readonly StreamWriter _log;

    private AppProcess(Process process, StreamWriter log, IPEndPoint endpoint, string logPath, IReadOnlyList<Uri> appsWithoutCoordination)
    {
        AppsWithoutCoordination = appsWithoutCoordination;
        _process = process;
        _log = log;
        Endpoint = endpoint;
        LogPath = logPath;
        BaseAddress = new Uri($"http://{endpoint}");
        Http = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromMinutes(2) };
    }

    public IPEndPoint Endpoint { get; }

    public Uri BaseAddress { get; }

    public string LogPath { get; }

    /// <summary>The base addresses of the apps without the library that share this process.</summary>
    public IReadOnlyList<Uri> AppsWithoutCoordination { get; }

    /// <summary>The CPU time (user and system) the app has used so far, read from the operating system.</summary>
    public TimeSpan CpuTime
    {
        get
        {
            _process.Refresh();
            return _process.TotalProcessorTime;
        }
    }

    private HttpClient Http { get; }

    public static async Task<AppProcess> StartAsync(string name, bool withCoordination, string logDirectory, int appsWithoutCoordination = 0)
    {
        var endpoint = new IPEndPoint(IPAddress.Loopback, FreePort());
        var start = new ProcessStartInfo { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        var self = Environment.ProcessPath ?? throw new InvalidOperationException("The driver cannot find its own executable.");
        start.FileName = self;
        if (Path.GetFileNameWithoutExtension(self) == "dotnet")
        {
            start.ArgumentList.Add(typeof(AppProcess).Assembly.Location);
        }

        start.ArgumentList.Add("serve");
        start.ArgumentList.Add("--urls");
        start.ArgumentList.Add($"http://{endpoint}");
        if (!withCoordination)
        {
            start.ArgumentList.Add("--without-coordination");
        }

        var others = new List<Uri>();
        for (var i = 0; i < appsWithoutCoordination; i++)
        {
            var url = $"http://{new IPEndPoint(IPAddress.Loopback, FreePort())}";
            others.Add(new Uri(url));
            start.ArgumentList.Add("--also-without-coordination");
            start.ArgumentList.Add(url);
        }

        start.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
        var logPath = Path.Combine(logDirectory, $"{name}.log");
        var log = new StreamWriter(logPath) { AutoFlush = true };
        var process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {self}.");
        process.OutputDataReceived += (_, e) => WriteLog(log, e.Data);
        process.ErrorDataReceived += (_, e) => WriteLog(log, e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        var app = new AppProcess(process, log, endpoint, logPath, others);
        try
        {
            await app.WaitUntilReadyAsync();
        }
        catch
        {
            await app.DisposeAsync();
            throw;
        }

        return app;
    }

    public async Task<T> GetAsync<T>(string path) =>
        await Http.GetFromJsonAsync<T>(path) ?? throw new InvalidOperationException($"{path} answered null.");

    /// <summary>Handler runs of one endpoint (<c>sf/herd</c>) so far, how many of them were cancelled, and (herd
    /// endpoints) how long at least one run was in progress.</summary>
    public async Task<(long Runs, long Canceled, long BusyMicroseconds)> RunsAsync(string endpoint)
    {
        var runs = await GetAsync<Dictionary<string, long>>("/diag/runs");
        return (runs.GetValueOrDefault(endpoint), runs.GetValueOrDefault(endpoint + ":canceled"), runs.GetValueOrDefault(endpoint + ":busy-us"));
    }

    /// <summary>The app's JIT and GC counters now.</summary>
    public Task<ProcessReport> ProcessAsync() => GetAsync<ProcessReport>("/diag/process");

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
        Http.Dispose();
        lock (_log)
        {
            _log.Dispose();
        }
    }

    private static void WriteLog(StreamWriter log, string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (log)
        {
            if (log.BaseStream is not null)
            {
                log.WriteLine(line);
            }
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    // Polling is fine here: this is a load driver waiting for a process to listen, not a test.
    private async Task WaitUntilReadyAsync()
    {
        var deadline = Stopwatch.GetTimestamp() + (long)(StartupTimeout.TotalSeconds * Stopwatch.Frequency);
        while (true)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"The benchmark app exited with code {_process.ExitCode} while starting; see {LogPath}.");
            }

            try
            {
                var ready = true;
                foreach (var address in (Uri[])[BaseAddress, .. AppsWithoutCoordination])
                {
                    using var response = await Http.GetAsync(new Uri(address, "/diag/flights"));
                    ready &= response.IsSuccessStatusCode;
                }

                if (ready)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }

            if (Stopwatch.GetTimestamp() > deadline)
            {
                throw new TimeoutException($"The benchmark app did not answer within {StartupTimeout.TotalSeconds} s; see {LogPath}.");
            }

            await Task.Delay(100);
        }
    }
}
