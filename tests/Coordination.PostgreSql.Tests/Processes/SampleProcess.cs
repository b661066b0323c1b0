namespace Coordination.Tests.Processes;

/// <summary>An instance of the sample service (samples/WebApi) in a process of its own, on PostgreSQL or in memory.</summary>
internal static class SampleProcess
{
    /// <summary>Starts the sample on a free loopback port, on the test database in <paramref name="schema"/> (or in
    /// memory when it is <see langword="null"/>), and waits until it listens.</summary>
    public static Task<ChildProcess> StartAsync(string? schema, params KeyValuePair<string, string>[] settings) => ChildProcess.StartAsync(
        "WebApi.dll",
        ["--urls", "http://127.0.0.1:0"],
        [
            new("ASPNETCORE_ENVIRONMENT", "Production"),
            .. schema is null ? [] : new KeyValuePair<string, string>[] { new("ConnectionStrings__Coordination", TestDatabase.ConnectionString), new("Coordination__Schema", schema) },
            .. settings,
        ],
        ready: line => line.Contains("Now listening on: ", StringComparison.Ordinal));

    /// <summary>The base URL the instance listens on.</summary>
    public static string Url(this ChildProcess sample) =>
        sample.Seen.Single(line => line.Contains("Now listening on: ", StringComparison.Ordinal)).Split("Now listening on: ")[1].Trim();
}
