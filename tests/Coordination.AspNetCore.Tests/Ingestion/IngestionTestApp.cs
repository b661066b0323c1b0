using System.Net.Http.Json;
using Coordination.AspNetCore;
using Coordination.Ingestion;
using Coordination.Tests.Http;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Coordination.Tests.Ingestion;

/// <summary>The sample app with an ordered ingestion "events" of <see cref="ScriptedEvent"/> at <c>/events</c>, keyed by
/// account, with fast retries unless the test says otherwise.</summary>
internal static class IngestionTestApp
{
    public static CoordinationTestApp Create(
        Action<OrderedIngestionOptions<ScriptedEvent>>? configure = null,
        TimeProvider? time = null,
        Action<IServiceCollection>? services = null,
        Action<IApplicationBuilder>? beforeEndpoints = null) => new(
        map => map.MapOrderedIngestion<ScriptedEvent>("/events", "events"),
        coordination: coord => coord.AddOrderedIngestion<ScriptedEvent, ScriptedHandler>("events", o =>
        {
            o.KeySelector = e => e.Account;
            o.MaxAttempts = 4;
            o.RetryBackoff = TimeSpan.FromMilliseconds(1);
            o.MaxRetryBackoff = TimeSpan.FromMilliseconds(4);
            o.PollInterval = TimeSpan.FromMilliseconds(2);
            configure?.Invoke(o);
        }),
        services: s =>
        {
            s.AddSingleton<HandlerJournal>();
            if (time is not null)
            {
                // The ingestion's own stop deadline runs on this clock; a key left backing off when the test ends
                // would hold the host's stop for its real 30 s default.
                s.AddSingleton(time);
                s.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(1));
            }

            services?.Invoke(s);
        },
        beforeEndpoints: beforeEndpoints);

    public static async Task<long[]> PostAsync(this HttpClient client, params ScriptedEvent[] events)
    {
        var response = await client.PostAsJsonAsync("/events", events);
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadFromJsonAsync<Accepted>())!.Ids;
    }

    public static EventStatus Status(this HttpClient client, long id) =>
        client.GetFromJsonAsync<EventStatus>($"/events/{id}").GetAwaiter().GetResult()!;

    public static HandlerJournal Journal(this CoordinationTestApp app) => app.Services.GetRequiredService<HandlerJournal>();

    public static OrderedIngestion<ScriptedEvent> Ingestion(this CoordinationTestApp app) => app.Services.GetRequiredKeyedService<OrderedIngestion<ScriptedEvent>>("events");

    /// <summary>The handled outcomes of one key, in the order the handler saw them.</summary>
    public static List<(long Id, string Outcome)> CallsOf(this HandlerJournal journal, string key) =>
        [.. journal.Calls.Where(c => c.Key == key).OrderBy(c => c.Order).Select(c => (c.Id, c.Outcome))];

    internal sealed record Accepted(long[] Ids, string[] StatusUrls);

    internal sealed record EventStatus(long Id, string Key, string State, int Attempts, string? LastError, long? BlockingId);
}
