using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using Coordination.AspNetCore;
using Coordination.Ingestion;
using Coordination.PostgreSql;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;

using static Coordination.Benchmarks.HarnessSupport;

namespace Coordination.Benchmarks;

/// <summary>
/// Ordered ingestion on PostgreSQL next to the in-memory log. (1) Accepting: clients POST events over real loopback
/// sockets to <c>MapOrderedIngestion</c> for a fixed time, in batches of 1 and of 100 events; events/s, p50/p99 of the
/// 202, and the write transactions (transaction ids drawn) and WAL flushes per POST (on PostgreSQL, dispatch is held off during this part by a
/// lease the harness holds, so the figures are the appends'; the in-memory log dispatches meanwhile). (2) Dispatching: events appended up front, then 1 or 2 nodes with a
/// no-op handler drain them; events/s.
/// </summary>
internal static class PostgresIngestionBenchmark
{
    private const string Schema = "bench_ingestion";
    private const string Ingestion = "bench";
    private const int Keys = 1_000;

    // The option's default on this machine (4 per core).
    private static readonly int DefaultWorkers = new OrderedIngestionOptions<BenchEvent>().Workers;

    public static async Task<int> RunAsync(string[] args)
    {
        var connectionString = Option(args, "--connection") ?? "Host=127.0.0.1;Port=5432;Username=postgres;Password=postgres;Database=coordination";
        var seconds = int.Parse(Option(args, "--seconds") ?? "10", CultureInfo.InvariantCulture);
        var clients = int.Parse(Option(args, "--clients") ?? "64", CultureInfo.InvariantCulture);
        var dispatchEvents = int.Parse(Option(args, "--dispatch-events") ?? "20000", CultureInfo.InvariantCulture);
        connectionString = $"{connectionString};Maximum Pool Size=100";
        Console.WriteLine($"PostgreSQL {await ScalarAsync(connectionString, "show server_version")}, fsync={await ScalarAsync(connectionString, "show fsync")}, synchronous_commit={await ScalarAsync(connectionString, "show synchronous_commit")}, commit_delay={await ScalarAsync(connectionString, "show commit_delay")}; {Environment.ProcessorCount} cores; {clients} HTTP clients for {seconds} s per row; keys spread over {Keys:N0}");
        Console.WriteLine();
        Console.WriteLine("| accepting over HTTP | events per POST | POSTs/s | events/s | 202 p50 ms | 202 p99 ms | write transactions per POST | WAL flushes per POST |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var postgres in new[] { false, true })
        {
            foreach (var batch in new[] { 1, 100 })
            {
                // A first, untimed pass warms up the JIT, the connection pool and the socket pool.
                await AcceptAsync(connectionString, postgres, batch, clients, TimeSpan.FromSeconds(2));
                var result = await AcceptAsync(connectionString, postgres, batch, clients, TimeSpan.FromSeconds(seconds));
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {(postgres ? "PostgreSQL log" : "in-memory log")} | {batch} | {result.Posts / result.Elapsed.TotalSeconds:N0} | {result.Posts * batch / result.Elapsed.TotalSeconds:N0} | {Percentile(result.Latencies, 0.5):0.0} | {Percentile(result.Latencies, 0.99):0.0} | {Ratio(result.WriteTransactions, result.Posts)} | {Ratio(result.WalSyncs, result.Posts)} |"));
            }
        }

        Console.WriteLine();
        Console.WriteLine("| dispatching appended events, no-op handler | nodes | workers per node | events | events/s | WAL flushes per event |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|");
        await DispatchAsync(connectionString, postgres: false, nodes: 1, DefaultWorkers, dispatchEvents); // warm-up, untimed
        foreach (var (postgres, nodes, workers) in new[] { (false, 1, DefaultWorkers), (true, 1, DefaultWorkers), (true, 2, DefaultWorkers), (true, 1, 64), (true, 2, 64) })
        {
            var (rate, walSyncs) = await DispatchAsync(connectionString, postgres, nodes, workers, dispatchEvents);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {(postgres ? "PostgreSQL log" : "in-memory log")} | {nodes} | {workers} | {dispatchEvents:N0} | {rate:N0} | {(postgres ? walSyncs.ToString("0.00", CultureInfo.InvariantCulture) : "–")} |"));
        }

        return 0;
    }

    private static async Task<(long Posts, TimeSpan Elapsed, List<double> Latencies, long WriteTransactions, long WalSyncs)> AcceptAsync(
        string connectionString, bool postgres, int batch, int clients, TimeSpan duration)
    {
        if (postgres)
        {
            // Another "process" holds the dispatch lease: the app accepts, and dispatches nothing.
            await ExecuteAsync(connectionString, $"drop schema if exists {Schema} cascade");
            await ExecuteAsync(connectionString, PostgreSqlSchema.GetMigrationScript(Schema));
            await ExecuteAsync(connectionString, $"insert into {Schema}.ingestion_dispatch_leases values ('{Ingestion}', 'benchmark', 1, now() + interval '1 hour')");
        }

        await using var app = BuildApp(connectionString, postgres, nodeName: "accept", DefaultWorkers);
        await app.StartAsync();
        try
        {
            return await PostForAsync(app, connectionString, postgres, batch, clients, duration);
        }
        finally
        {
            await app.StopAsync();
        }
    }

    private static async Task<(long Posts, TimeSpan Elapsed, List<double> Latencies, long WriteTransactions, long WalSyncs)> PostForAsync(
        WebApplication app, string connectionString, bool postgres, int batch, int clients, TimeSpan duration)
    {

        var url = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single() + "/events";
        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = clients, UseProxy = false });
        // Each POST takes a body at random: its events' keys are distinct, and spread over all keys. (Appends to one key
        // wait for each other's commit, so a fixed rotation of keys would line the clients up behind each other.)
        var bodies = Enumerable.Range(0, Keys).Select(i => Encoding.UTF8.GetBytes("[" + string.Join(',', Enumerable.Range(0, batch).Select(j => $$"""{"key":"k{{(i * batch + j) % Keys}}","amount":{{j}}}""")) + "]")).ToArray();
        var (xidsBefore, walBefore) = postgres ? await StatsAsync(connectionString) : default;
        var latencies = new List<double>[clients];
        var started = Stopwatch.GetTimestamp();
        var deadline = started + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        await Task.WhenAll(Enumerable.Range(0, clients).Select(client => Task.Run(async () =>
        {
            var mine = latencies[client] = [];
            while (Stopwatch.GetTimestamp() < deadline)
            {
                using var content = new ByteArrayContent(bodies[Random.Shared.Next(bodies.Length)]);
                content.Headers.ContentType = new("application/json");
                var sent = Stopwatch.GetTimestamp();
                using var response = await http.PostAsync(url, content);
                if (response.StatusCode != HttpStatusCode.Accepted)
                {
                    throw new InvalidOperationException($"POST answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
                }

                await response.Content.LoadIntoBufferAsync();
                mine.Add(Stopwatch.GetElapsedTime(sent).TotalMilliseconds);
            }
        })));
        var elapsed = Stopwatch.GetElapsedTime(started);
        var (xidsAfter, walAfter) = postgres ? await StatsAsync(connectionString) : default;
        var all = latencies.SelectMany(l => l).ToList();
        return (all.Count, elapsed, all, xidsAfter - xidsBefore, walAfter - walBefore);
    }

    private static async Task<(double Rate, double WalSyncsPerEvent)> DispatchAsync(string connectionString, bool postgres, int nodes, int workers, int events)
    {
        if (postgres)
        {
            await ExecuteAsync(connectionString, $"drop schema if exists {Schema} cascade");
        }

        var apps = Enumerable.Range(0, nodes).Select(node => BuildApp(connectionString, postgres, $"node{node}", workers)).ToList();
        try
        {
            // The handlers wait at the gate until every event is appended; then the clock starts.
            NoopHandler.Reset();
            foreach (var app in apps)
            {
                await app.StartAsync();
            }

            var ingestion = apps[0].Services.GetRequiredKeyedService<OrderedIngestion<BenchEvent>>(Ingestion);
            foreach (var chunk in Enumerable.Range(0, events).Chunk(1_000))
            {
                await ingestion.AppendAsync([.. chunk.Select(i => new BenchEvent($"k{i % Keys}", i))]);
            }

            var walBefore = postgres ? (await StatsAsync(connectionString)).WalSyncs : 0;
            var started = Stopwatch.GetTimestamp();
            NoopHandler.Gate.SetResult();
            using var poll = new PeriodicTimer(TimeSpan.FromMilliseconds(10));
            while (Volatile.Read(ref NoopHandler.Handled) < events)
            {
                await poll.WaitForNextTickAsync();
            }

            var elapsed = Stopwatch.GetElapsedTime(started);
            var walSyncs = postgres ? (await StatsAsync(connectionString)).WalSyncs - walBefore : 0;
            return (events / elapsed.TotalSeconds, (double)walSyncs / events);
        }
        finally
        {
            foreach (var app in apps)
            {
                await app.StopAsync();
                await app.DisposeAsync();
            }
        }
    }

    private static WebApplication BuildApp(string connectionString, bool postgres, string nodeName, int workers)
    {
        var builder = WebApplication.CreateSlimBuilder();
        // The accepting part stops its app with every event pending: the ingestion lists them all (log 206), by design.
        builder.Logging.ClearProviders().AddConsole().SetMinimumLevel(LogLevel.Warning).AddFilter("Coordination.AspNetCore.Ingestion", LogLevel.Critical);
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Services.AddSingleton(_ => NpgsqlDataSource.Create($"{connectionString};Application Name={nodeName}"));
        builder.Services.AddKeyedCoordination(coord =>
        {
            coord.AddOrderedIngestion<BenchEvent, NoopHandler>(Ingestion, o =>
            {
                o.KeySelector = e => e.Key;
                o.Workers = workers;
                o.PollInterval = TimeSpan.FromMilliseconds(10);
            });
            if (postgres)
            {
                coord.UsePostgreSql(o => (o.Schema, o.DispatchLeaseDuration) = (Schema, TimeSpan.FromSeconds(5)));
            }
        });
        var app = builder.Build();
        app.MapOrderedIngestion<BenchEvent>("/events", Ingestion);
        return app;
    }

    private static async Task<(long WriteTransactions, long WalSyncs)> StatsAsync(string connectionString)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("select pg_snapshot_xmax(pg_current_snapshot())::text::bigint, (select wal_sync from pg_stat_wal)", connection);
        await using var reader = await command.ExecuteReaderAsync();
        await reader.ReadAsync();
        return (reader.GetInt64(0), reader.GetInt64(1));
    }

    private static string Ratio(long count, long posts) => posts == 0 || count == 0 ? "–" : ((double)count / posts).ToString("0.00", CultureInfo.InvariantCulture);

    internal sealed record BenchEvent(string Key, int Amount);

    /// <summary>Counts the events handled; holds them at <see cref="Gate"/> until it opens (open for the accepting part).</summary>
    private sealed class NoopHandler : IEventHandler<BenchEvent>
    {
        public static int Handled;

        public static TaskCompletionSource Gate { get; private set; } = CreateOpenGate();

        public static void Reset() => (Handled, Gate) = (0, new(TaskCreationOptions.RunContinuationsAsynchronously));

        public Task HandleAsync(BenchEvent ingested, EventContext context, CancellationToken cancellationToken)
        {
            if (!Gate.Task.IsCompleted)
            {
                return WaitThenCountAsync();
            }

            Interlocked.Increment(ref Handled);
            return Task.CompletedTask;
        }

        private static async Task WaitThenCountAsync()
        {
            await Gate.Task;
            Interlocked.Increment(ref Handled);
        }

        private static TaskCompletionSource CreateOpenGate()
        {
            var gate = new TaskCompletionSource();
            gate.SetResult();
            return gate;
        }
    }
}
