using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;

namespace Coordination.Dashboard.Tests;

/// <summary>A real Prometheus on a free loopback port, with its own data directory, scraping one target.</summary>
/// <remarks>The binary is <c>COORDINATION_TEST_PROMETHEUS</c>, or <c>prometheus</c> on the PATH; eng/test.sh installs
/// the Debian package when it is missing. Without it the test fails: it is never skipped. Under eng/test.sh the process
/// id is written to <c>COORDINATION_TEST_PROMETHEUS_DIR</c>, whose EXIT trap stops the server even if this process dies.</remarks>
internal sealed class PrometheusServer : IAsyncDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);

    private readonly Process _process;
    private readonly string _directory;
    private readonly StringWriter _output = new();
    private readonly HttpClient _client;

    private PrometheusServer(Process process, string directory, Uri address)
    {
        _process = process;
        _directory = directory;
        _client = new HttpClient { BaseAddress = address };
    }

    /// <summary>What Prometheus printed, for failure messages.</summary>
    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    /// <summary>Starts Prometheus with <paramref name="config"/> (YAML) and waits until it is ready.</summary>
    public static async Task<PrometheusServer> StartAsync(string config)
    {
        var binary = FindBinary();
        var parent = Environment.GetEnvironmentVariable("COORDINATION_TEST_PROMETHEUS_DIR") is { Length: > 0 } shared ? shared : Path.GetTempPath();
        var directory = Directory.CreateDirectory(Path.Combine(parent, $"coordination-prometheus-{Guid.NewGuid():N}")).FullName;

        var configPath = Path.Combine(directory, "prometheus.yml");
        await File.WriteAllTextAsync(configPath, config);
        Exception? lastError = null;
        for (var attempt = 0; attempt < 3; attempt++)
        {
            // A port found free can be taken before Prometheus binds it: then Prometheus exits, and we try another.
            var port = FreePort();
            var start = new ProcessStartInfo(binary)
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            foreach (var argument in new[]
            {
                $"--config.file={configPath}",
                $"--storage.tsdb.path={Path.Combine(directory, "data")}",
                $"--web.listen-address=127.0.0.1:{port}",
                "--storage.tsdb.retention.time=1h",
                "--log.level=warn",
            })
            {
                start.ArgumentList.Add(argument);
            }

            var process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {binary}.");
            await File.WriteAllTextAsync(Path.Combine(directory, "prometheus.pid"), process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
            var server = new PrometheusServer(process, directory, new Uri($"http://127.0.0.1:{port}/"));
            process.OutputDataReceived += (_, e) => server.Append(e.Data);
            process.ErrorDataReceived += (_, e) => server.Append(e.Data);
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            try
            {
                await server.WaitUntilReadyAsync();
                return server;
            }
            catch (Exception exception) when (exception is InvalidOperationException or TimeoutException)
            {
                lastError = exception;
                await server.StopAsync();
            }
        }

        throw new InvalidOperationException($"Prometheus did not start after 3 attempts.", lastError);
    }

    /// <summary>Evaluates <paramref name="query"/> now; returns how many series the result has.</summary>
    public async Task<int> CountSeriesAsync(string query)
    {
        using var response = await _client.GetAsync($"api/v1/query?query={Uri.EscapeDataString(query)}");
        var body = await response.Content.ReadAsStringAsync();
        using var json = JsonDocument.Parse(body);
        if (json.RootElement.GetProperty("status").GetString() != "success")
        {
            throw new InvalidOperationException($"Prometheus rejected '{query}': {body}");
        }

        var data = json.RootElement.GetProperty("data");
        return data.GetProperty("resultType").GetString() is "vector" or "matrix" ? data.GetProperty("result").GetArrayLength() : 1;
    }

    /// <summary>The metric names Prometheus has, for failure messages.</summary>
    public async Task<string> MetricNamesAsync()
    {
        using var json = JsonDocument.Parse(await _client.GetStringAsync("api/v1/label/__name__/values"));
        return string.Join(", ", json.RootElement.GetProperty("data").EnumerateArray().Select(n => n.GetString()).Where(n => n!.StartsWith("coordination", StringComparison.Ordinal)));
    }

    /// <summary>The scrape targets' health and last error, for failure messages.</summary>
    public Task<string> TargetsAsync() => _client.GetStringAsync("api/v1/targets?state=active");

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _client.Dispose();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
            // Left behind in the temporary directory; eng/test.sh removes its directory on exit.
        }
    }

    private static string FindBinary()
    {
        if (Environment.GetEnvironmentVariable("COORDINATION_TEST_PROMETHEUS") is { Length: > 0 } configured)
        {
            return File.Exists(configured)
                ? configured
                : throw new InvalidOperationException($"COORDINATION_TEST_PROMETHEUS is '{configured}', which does not exist.");
        }

        var onPath = (Environment.GetEnvironmentVariable("PATH") ?? "")
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(directory => Path.Combine(directory, "prometheus"))
            .FirstOrDefault(File.Exists);
        return onPath ?? throw new InvalidOperationException(
            "Prometheus is not installed: run the tests with eng/test.sh (it installs the Debian package prometheus), " +
            "or set COORDINATION_TEST_PROMETHEUS to a prometheus binary.");
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private void Append(string? line)
    {
        if (line is not null)
        {
            lock (_output)
            {
                _output.WriteLine(line);
            }
        }
    }

    private async Task WaitUntilReadyAsync()
    {
        using var timeout = new CancellationTokenSource(StartTimeout);
        while (true)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"Prometheus exited with code {_process.ExitCode}:{Environment.NewLine}{Output}");
            }

            try
            {
                using var ready = await _client.GetAsync("-/ready", timeout.Token);
                if (ready.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }
            catch (OperationCanceledException) when (timeout.IsCancellationRequested)
            {
                throw new TimeoutException($"Prometheus was not ready within {StartTimeout}:{Environment.NewLine}{Output}");
            }

            await Task.Delay(TimeSpan.FromMilliseconds(100), timeout.Token).ContinueWith(_ => { }, TaskScheduler.Default);
        }
    }

    private async Task StopAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }

        await _process.WaitForExitAsync();
        _process.Dispose();
    }
}
