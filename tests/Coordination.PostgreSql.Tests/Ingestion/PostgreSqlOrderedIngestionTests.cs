using System.Collections.Concurrent;
using Coordination.AspNetCore;
using Coordination.Ingestion;
using Coordination.PostgreSql;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Coordination.Tests.Ingestion;

/// <summary>Ordered ingestion on PostgreSQL in this process: <c>UsePostgreSql</c> gives it the durable log, and two
/// hosts on one database (two nodes) keep each key's order.</summary>
public sealed class PostgreSqlOrderedIngestionTests
{
    private const int Keys = 10;
    private const int EventsPerKey = 20;

    [Fact]
    public async Task TwoNodes_HandleEveryEventOnce_InKeyOrder_AndTheOtherTakesOverWhenTheDispatcherStops()
    {
        var schema = TestDatabase.NewSchemaName();
        var handled = new HandledEvents();
        var nodes = new[] { await StartAsync("a", schema, handled), await StartAsync("b", schema, handled) };
        Assert.IsType<PostgreSqlEventLog>(nodes[0].Services.GetRequiredKeyedService<IEventLog>("steps"));
        var appended = new ConcurrentDictionary<string, ConcurrentQueue<long>>();

        // Each key's events go to both nodes in turn; appends of different keys run in parallel.
        await Parallel.ForAsync(0, Keys, async (key, ct) =>
        {
            for (var n = 0; n < EventsPerKey; n++)
            {
                var ingestion = nodes[(key + n) % 2].Services.GetRequiredKeyedService<OrderedIngestion<StepEvent>>("steps");
                var ids = await ingestion.AppendAsync([new StepEvent($"k{key}", n)], ct);
                appended.GetOrAdd($"k{key}", _ => new()).Enqueue(ids[0]);
            }
        });
        await handled.WaitForAsync(Keys * EventsPerKey).DefaultTimeout();

        var dispatcher = handled.All[0].Node;
        Assert.All(handled.All, e => Assert.Equal(dispatcher, e.Node));
        var dispatcherHost = nodes[dispatcher == "a" ? 0 : 1];
        var survivor = nodes[dispatcher == "a" ? 1 : 0];
        await dispatcherHost.StopAsync();
        dispatcherHost.Dispose();
        var late = await survivor.Services.GetRequiredKeyedService<OrderedIngestion<StepEvent>>("steps").AppendAsync([new StepEvent("k0", EventsPerKey)]);
        appended["k0"].Enqueue(late[0]);
        await handled.WaitForAsync(Keys * EventsPerKey + 1).DefaultTimeout();
        await survivor.StopAsync();
        survivor.Dispose();

        Assert.NotEqual(dispatcher, handled.All[^1].Node);
        foreach (var (key, ids) in appended)
        {
            Assert.Equal(ids.Order(), handled.All.Where(e => e.Key == key).Select(e => e.Id));
        }
    }

    private static async Task<IHost> StartAsync(string node, string schema, HandledEvents handled)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddSingleton(handled);
        builder.Services.AddSingleton(new NodeName(node));
        builder.Services.AddKeyedCoordination(coord =>
        {
            coord.UsePostgreSql(TestDatabase.DataSource, o => o.Schema = schema);
            coord.AddOrderedIngestion<StepEvent, StepHandler>("steps", o =>
            {
                o.KeySelector = step => step.Key;
                o.PollInterval = TimeSpan.FromMilliseconds(20);
            });
        });
        var host = builder.Build();
        await host.StartAsync();
        return host;
    }

    public sealed record StepEvent(string Key, int N);

    private sealed record NodeName(string Name);

    private sealed class StepHandler(HandledEvents handled, NodeName node) : IEventHandler<StepEvent>
    {
        public Task HandleAsync(StepEvent ingested, EventContext context, CancellationToken cancellationToken)
        {
            handled.Add(node.Name, context.Key, context.Id);
            return Task.CompletedTask;
        }
    }

    private sealed class HandledEvents
    {
        private readonly Lock _sync = new();
        private readonly List<(string Node, string Key, long Id)> _all = [];
        private readonly List<(int Count, TaskCompletionSource Reached)> _waiters = [];

        public IReadOnlyList<(string Node, string Key, long Id)> All
        {
            get
            {
                lock (_sync)
                {
                    return [.. _all];
                }
            }
        }

        public void Add(string node, string key, long id)
        {
            lock (_sync)
            {
                _all.Add((node, key, id));
                foreach (var waiter in _waiters.Where(w => _all.Count >= w.Count))
                {
                    waiter.Reached.TrySetResult();
                }
            }
        }

        public Task WaitForAsync(int count)
        {
            lock (_sync)
            {
                var waiter = (count, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
                _waiters.Add(waiter);
                if (_all.Count >= count)
                {
                    waiter.Item2.TrySetResult();
                }

                return waiter.Item2.Task;
            }
        }
    }
}
