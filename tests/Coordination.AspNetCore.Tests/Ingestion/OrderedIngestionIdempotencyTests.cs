using System.Net;
using System.Net.Http.Json;
using System.Security.Claims;
using System.Text;
using Coordination.Tests.Http;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Time.Testing;

namespace Coordination.Tests.Ingestion;

/// <summary>POSTs with an <c>Idempotency-Key</c>: a retried request is answered, not appended twice.</summary>
public sealed class OrderedIngestionIdempotencyTests
{
    private const string Body = """[{"account":"a","sequence":1,"script":"ok"},{"account":"a","sequence":2,"script":"ok"}]""";

    [Fact]
    public async Task SameKeyAndBody_GetsTheFirst202AndIds_WithoutAppending()
    {
        await using var app = IdempotentApp();
        var client = app.CreateClient();

        var first = await PostAsync(client, "retry-1", Body);
        var retried = await PostAsync(client, "retry-1", Body);

        Assert.Equal(HttpStatusCode.Accepted, retried.StatusCode);
        var firstIds = await IdsAsync(first);
        Assert.Equal(firstIds, await IdsAsync(retried));
        Assert.Equal(first.Headers.Location, retried.Headers.Location);
        Assert.Equal("true", Assert.Single(retried.Headers.GetValues("Idempotent-Replayed")));
        Assert.False(first.Headers.Contains("Idempotent-Replayed"));
        Assert.Null(await app.Ingestion().GetAsync(firstIds.Max() + 1));
    }

    [Fact]
    public async Task SameKeyWithAnotherBody_Gets422_AndNothingIsAppended()
    {
        await using var app = IdempotentApp();
        var client = app.CreateClient();
        var firstIds = await IdsAsync(await PostAsync(client, "retry-2", Body));

        var reused = await PostAsync(client, "retry-2", Body.Replace("\"sequence\":2", "\"sequence\":3", StringComparison.Ordinal));

        Assert.Equal(HttpStatusCode.UnprocessableEntity, reused.StatusCode);
        Assert.Equal("application/problem+json", reused.Content.Headers.ContentType?.MediaType);
        Assert.Contains("Idempotency-Key", await reused.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Null(await app.Ingestion().GetAsync(firstIds.Max() + 1));
    }

    [Fact]
    public async Task RefusedRequest_LeavesItsKeyFree()
    {
        await using var app = IdempotentApp();
        var client = app.CreateClient();

        var refused = await PostAsync(client, "fixed-later", "[]");
        var fixedRequest = await PostAsync(client, "fixed-later", Body);

        Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        Assert.Equal(2, (await IdsAsync(fixedRequest)).Length);
    }

    [Fact]
    public async Task KeysAreScopedToTheAuthenticatedUser()
    {
        await using var app = IdempotentApp();
        var client = app.CreateClient();

        var alice = await IdsAsync(await PostAsync(client, "k", Body, user: "alice"));
        var bob = await IdsAsync(await PostAsync(client, "k", Body, user: "bob"));
        var anonymous = await IdsAsync(await PostAsync(client, "k", Body));
        var aliceAgain = await IdsAsync(await PostAsync(client, "k", Body, user: "alice"));

        Assert.Equal(6, alice.Concat(bob).Concat(anonymous).Distinct().Count());
        Assert.Equal(alice, aliceAgain);
    }

    [Fact]
    public async Task KeyIsForgottenAfterTheWindow_ThenTheSameRequestIsAppendedAgain()
    {
        var time = new FakeTimeProvider();
        await using var app = IdempotentApp(time);
        var client = app.CreateClient();
        var first = await IdsAsync(await PostAsync(client, "daily", Body));

        time.Advance(TimeSpan.FromMinutes(10) - TimeSpan.FromSeconds(1));
        Assert.Equal(first, await IdsAsync(await PostAsync(client, "daily", Body)));
        time.Advance(TimeSpan.FromSeconds(1));
        var afterWindow = await IdsAsync(await PostAsync(client, "daily", Body));

        Assert.Empty(first.Intersect(afterWindow));
    }

    [Fact]
    public async Task EmptyOrOverlongKey_Gets400()
    {
        await using var app = IdempotentApp();
        var client = app.CreateClient();

        var empty = await PostAsync(client, "\"\"", Body);
        var overlong = await PostAsync(client, new string('k', 256), Body);

        Assert.Equal(HttpStatusCode.BadRequest, empty.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, overlong.StatusCode);
        Assert.Contains("255", await overlong.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Null(await app.Ingestion().GetAsync(1));
    }

    /// <summary>An app whose requests are authenticated as the user named in <c>X-Test-User</c>, if any.</summary>
    private static CoordinationTestApp IdempotentApp(TimeProvider? time = null) => IngestionTestApp.Create(
        o => o.IdempotencyWindow = TimeSpan.FromMinutes(10),
        time,
        beforeEndpoints: app => app.Use((context, next) =>
        {
            if (context.Request.Headers.TryGetValue("X-Test-User", out var user))
            {
                context.User = new ClaimsPrincipal(new ClaimsIdentity([new Claim(ClaimTypes.NameIdentifier, user.ToString())], "test"));
            }

            return next(context);
        }));

    private static Task<HttpResponseMessage> PostAsync(HttpClient client, string idempotencyKey, string body, string? user = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/events") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        request.Headers.TryAddWithoutValidation("Idempotency-Key", idempotencyKey);
        if (user is not null)
        {
            request.Headers.Add("X-Test-User", user);
        }

        return client.SendAsync(request);
    }

    private static async Task<long[]> IdsAsync(HttpResponseMessage response)
    {
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<IngestionTestApp.Accepted>())!.Ids;
    }
}
