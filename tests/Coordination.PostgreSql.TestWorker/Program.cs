// Usage: Coordination.PostgreSql.TestWorker <connection string> <schema> <mode> <concurrency> <lease seconds> [retry ms]
//   mode: complete — record the completion and finish; block — hang until cancelled; go — wait for a "go" line on
//   standard input, then complete. Standard output carries one line per event ("started 12", "completed 12",
//   "lease-lost 12"); logs go to standard error.
//   mode ingest: an ordered ingestion "steps" instead (concurrency workers, the dispatch lease in seconds, the retry
//   backoff in milliseconds) whose handler records into {schema}.handled and prints "failed 12" / "handled 12".
using Coordination.AspNetCore;
using Coordination.Tasks;
using Coordination.TestWorker;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;

var (connectionString, schema, mode) = (args[0], args[1], args[2]);
var concurrency = int.Parse(args[3], System.Globalization.CultureInfo.InvariantCulture);
var lease = TimeSpan.FromSeconds(int.Parse(args[4], System.Globalization.CultureInfo.InvariantCulture));

var builder = Host.CreateApplicationBuilder();
builder.Logging.ClearProviders().AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace).SetMinimumLevel(LogLevel.Warning);
builder.Services.AddSingleton(new WorkerSettings(schema, mode));
builder.Services.AddSingleton(_ => NpgsqlDataSource.Create(connectionString));
builder.Services.AddKeyedCoordination(coord =>
{
    coord.UsePostgreSql(o => (o.Schema, o.DispatchLeaseDuration) = (schema, lease)); // the data source registered above
    if (mode == "ingest")
    {
        var backoff = TimeSpan.FromMilliseconds(int.Parse(args[5], System.Globalization.CultureInfo.InvariantCulture));
        coord.AddOrderedIngestion<StepEvent, StepRecorder>("steps", o =>
        {
            o.KeySelector = e => e.Key;
            (o.Workers, o.RetryBackoff, o.MaxRetryBackoff, o.MaxAttempts, o.PollInterval) = (concurrency, backoff, backoff, 50, TimeSpan.FromMilliseconds(50));
        });
        return;
    }

    // Many attempts: a task whose handler meets the database restarting is retried, not dead-lettered.
    coord.AddTaskQueue("jobs", o => (o.LeaseDuration, o.PollInterval, o.RetryBackoff, o.MaxAttempts) = (lease, TimeSpan.FromMilliseconds(200), TimeSpan.FromMilliseconds(200), 50))
        .AddWorker<RecordingHandler>(o => o.Concurrency = concurrency);
});
using var host = builder.Build();
if (mode == "go")
{
    _ = Task.Run(() =>
    {
        while (Console.ReadLine() is { } line)
        {
            if (line == "go")
            {
                RecordingHandler.Go.TrySetResult();
            }
        }
    });
}

Output.Line("ready");
await host.RunAsync();
