namespace Coordination.HttpBenchmarks.Driver;

/// <summary>What every scenario works with: the options, the app under load (library registered), wrk.</summary>
internal sealed class DriverContext(DriverOptions options, AppProcess app, WrkRunner wrk)
{
    public DriverOptions Options { get; } = options;

    public AppProcess App { get; } = app;

    public WrkRunner Wrk { get; } = wrk;

    public TimeSpan WarmUp => TimeSpan.FromSeconds(Options.WarmupSeconds);

    public static Uri Url(AppProcess app, string path) => new(app.BaseAddress, path);

    /// <summary>Starts another app process (fresh, or without the library, with as many apps without the library beside
    /// it as asked); the caller disposes it.</summary>
    public async Task<AppProcess> StartAppAsync(string name, bool withCoordination, int appsWithoutCoordination = 0)
    {
        var app = await AppProcess.StartAsync(name, withCoordination, Options.WorkDirectory, appsWithoutCoordination);
        LogPaths.Add(app.LogPath);
        return app;
    }

    /// <summary>The logs of every app process started, the first one's first.</summary>
    public List<string> LogPaths { get; } = [app.LogPath];

    /// <summary>Non-2xx responses and socket errors of a wrk run, for the measured column; empty when there were none.</summary>
    public static string Errors(WrkResult result) =>
        result.Non2xx == 0 && result.SocketErrors == 0
            ? ""
            : $"; **{ResultTable.Count(result.Non2xx)} non-2xx, {ResultTable.Count(result.SocketErrors)} socket errors**";
}
