using System.Net;
using System.Net.Http.Json;
using System.Text;
using Coordination.Ingestion;
using Coordination.Tests.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Coordination.Tests.Ingestion;

/// <summary>The ingestion endpoints' answers to requests a client gets wrong, or sends big.</summary>
public sealed class OrderedIngestionEndpointTests
{
    [Fact]
    public async Task BodyAboveKestrelsDefaultLimit_IsAccepted_WhenMaxRequestBodySizeAllowsIt()
    {
        await using var app = IngestionTestApp.Create(o => o.MaxRequestBodySize = 40 * 1024 * 1024);
        app.UseKestrel(0);
        app.StartServer();
        using var client = app.CreateClient();

        // 30,000,050 bytes: just over Kestrel's default MaxRequestBodySize of 30,000,000.
        var body = $$"""{"account":"big","sequence":1,"script":"{{new string('x', 30_000_000)}}"}""";
        var response = await client.PostAsync("/events", new StringContent(body, Encoding.UTF8, "application/json"));

        Assert.True(Encoding.UTF8.GetByteCount(body) > 30_000_000);
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
    }

    [Fact]
    public async Task KeySelectorThatThrowsOnAnEvent_Gets400NamingTheEvent_AndNothingIsAppended()
    {
        await using var app = IngestionTestApp.Create(o => o.KeySelector = e => e.Account == "malformed" ? throw new InvalidOperationException("no account number") : e.Account);
        var client = app.CreateClient();

        var response = await client.PostAsJsonAsync("/events", new[] { new ScriptedEvent("fine", 1, "ok"), new ScriptedEvent("malformed", 2, "ok") });

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains("Event 1: the key selector of ingestion 'events' threw InvalidOperationException: no account number", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Null(await app.Ingestion().GetAsync(1));
    }

    [Fact]
    public async Task KeyLongerThanMaxKeyLength_Gets400NamingTheLimit_AndNothingIsAppended()
    {
        await using var app = IngestionTestApp.Create(o => o.MaxKeyLength = 10);
        var client = app.CreateClient();

        var atLimit = await client.PostAsJsonAsync("/events", new[] { new ScriptedEvent(new string('k', 10), 1, "ok") });
        var response = await client.PostAsJsonAsync("/events", new[] { new ScriptedEvent("fine", 1, "ok"), new ScriptedEvent(new string('k', 11), 2, "ok") });

        Assert.Equal(HttpStatusCode.Accepted, atLimit.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains("Event 1 has a key of 11 characters; ingestion 'events' accepts keys of at most 10 (MaxKeyLength).", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Null(await app.Ingestion().GetAsync(2));
    }

    [Fact]
    public async Task LogThatFails_Gets503WithRetryAfter_AndTheNextRequestIsAccepted()
    {
        var log = new FailingAppendLog();
        await using var app = IngestionTestApp.Create(services: s => s.AddKeyedSingleton<IEventLog>("events", log));
        var client = app.CreateClient();

        var failed = await client.PostAsJsonAsync("/events", new[] { new ScriptedEvent("a", 1, "ok") });
        log.Fail = false;
        var accepted = await client.PostAsJsonAsync("/events", new[] { new ScriptedEvent("a", 1, "ok") });

        Assert.Equal(HttpStatusCode.ServiceUnavailable, failed.StatusCode);
        Assert.Equal("application/problem+json", failed.Content.Headers.ContentType?.MediaType);
        Assert.Equal("1", failed.Headers.GetValues("Retry-After").Single());
        Assert.Contains("could not make the events durable", await failed.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Accepted, accepted.StatusCode);
    }

    [Fact]
    public async Task BodyThatIsNotJson_Gets415_AndNothingIsAppended()
    {
        await using var app = IngestionTestApp.Create();
        var client = app.CreateClient();

        var response = await client.PostAsync("/events", new StringContent("""{"account":"a","sequence":1,"script":"ok"}""", Encoding.UTF8, "text/plain"));

        Assert.Equal(HttpStatusCode.UnsupportedMediaType, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains("accepts application/json", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Null(await app.Ingestion().GetAsync(1));
    }

    [Theory]
    [InlineData("tenant/a", false)]
    [InlineData("tenant/a%2Fb", true)] // a literal "%2F" too: only the raw request target (Kestrel) tells it from a slash
    public async Task ParkedKeyContainingASlash_CanBeReleased(string key, bool overKestrel)
    {
        await using var app = IngestionTestApp.Create(o => o.OnTerminalFailure = TerminalFailureAction.ParkKey);
        if (overKestrel)
        {
            app.UseKestrel(0);
            app.StartServer();
        }

        using var client = app.CreateClient();
        var ids = await client.PostAsync(new ScriptedEvent(key, 1, "permanent"), new ScriptedEvent(key, 2, "ok"));
        Gate.WaitUntil(() => client.Status(ids[0]).State == "DeadLettered", "the key is parked");

        var release = await client.PostAsync($"/events/keys/{Uri.EscapeDataString(key)}/release", null);

        Assert.Equal(HttpStatusCode.NoContent, release.StatusCode);
        Gate.WaitUntil(() => client.Status(ids[1]).State == "Succeeded", "the released key goes on");
    }

    /// <summary>An in-memory log whose appends fail while <see cref="Fail"/> is set, like a database that is down.</summary>
    private sealed class FailingAppendLog : IEventLog
    {
        private readonly InMemoryEventLog _inner = new();

        public volatile bool Fail = true;

        public ValueTask<AppendResult> AppendAsync(IReadOnlyList<NewEvent> events, IdempotentAppend? idempotency, CancellationToken cancellationToken) =>
            Fail ? throw new TimeoutException("the database is down") : _inner.AppendAsync(events, idempotency, cancellationToken);

        public ValueTask<IReadOnlyList<LoggedEvent>> ReadDispatchableAsync(DispatchQuery query, CancellationToken cancellationToken) => _inner.ReadDispatchableAsync(query, cancellationToken);

        public ValueTask<IReadOnlyList<LoggedEvent>> ReadPendingAsync(long afterId, int max, CancellationToken cancellationToken) => _inner.ReadPendingAsync(afterId, max, cancellationToken);

        public ValueTask<LoggedEvent?> GetAsync(long id, CancellationToken cancellationToken) => _inner.GetAsync(id, cancellationToken);

        public ValueTask SaveStateAsync(LoggedEvent logged, CancellationToken cancellationToken) => _inner.SaveStateAsync(logged, cancellationToken);

        public ValueTask<bool> SetParkedAsync(string key, bool parked, CancellationToken cancellationToken) => _inner.SetParkedAsync(key, parked, cancellationToken);

        public ValueTask<IReadOnlySet<string>> ParkedKeysAsync(CancellationToken cancellationToken) => _inner.ParkedKeysAsync(cancellationToken);

        public ValueTask<long?> ReplayAsync(long id, CancellationToken cancellationToken) => _inner.ReplayAsync(id, cancellationToken);

        public ValueTask<int> DeleteSucceededAsync(DateTimeOffset finishedBefore, int max, CancellationToken cancellationToken) => _inner.DeleteSucceededAsync(finishedBefore, max, cancellationToken);
    }
}
