using System.Text.Json;
using Coordination.Ingestion;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Coordination.AspNetCore;

/// <summary>Maps the HTTP face of an ordered ingestion.</summary>
public static class OrderedIngestionEndpointRouteBuilderExtensions
{
    /// <summary>
    /// Maps <c>POST {pattern}</c> (one event or a JSON array of events → 202 with ids and status URLs; bad JSON, a
    /// missing key or an oversized body → 400 ProblemDetails and nothing appended), <c>GET {pattern}/{id}</c> (state,
    /// attempts, last error, blocking id) and <c>POST {pattern}/keys/{key}/release</c> (releases a parked key).
    /// </summary>
    /// <typeparam name="TEvent">The event type.</typeparam>
    /// <param name="endpoints">The endpoint route builder.</param>
    /// <param name="pattern">The route of the ingestion.</param>
    /// <param name="name">The ingestion registered with <c>coord.AddOrderedIngestion&lt;TEvent, THandler&gt;(name, ...)</c>; an unknown name fails at startup.</param>
    /// <returns>The route group, for further conventions (authorization, rate limiting).</returns>
    public static RouteGroupBuilder MapOrderedIngestion<TEvent>(this IEndpointRouteBuilder endpoints, string pattern, string name)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        ArgumentException.ThrowIfNullOrEmpty(pattern);
        ArgumentException.ThrowIfNullOrEmpty(name);
        var ingestion = endpoints.ServiceProvider.GetKeyedService<OrderedIngestion<TEvent>>(name)
            ?? throw new InvalidOperationException(
                $"No ordered ingestion of {typeof(TEvent).Name} named '{name}' is registered: call coord.AddOrderedIngestion<{typeof(TEvent).Name}, THandler>(\"{name}\", ...) in AddKeyedCoordination.");
        var maxBodySize = endpoints.ServiceProvider.GetRequiredService<IOptionsMonitor<OrderedIngestionOptions<TEvent>>>().Get(name).MaxRequestBodySize;

        var group = endpoints.MapGroup(pattern);
        group.MapPost(string.Empty, context => AcceptAsync(context, ingestion, maxBodySize));
        group.MapGet("{id:long}", context => StatusAsync(context, ingestion));
        group.MapPost("keys/{key}/release", context => ReleaseAsync(context, ingestion));
        return group;
    }

    private static async Task AcceptAsync<TEvent>(HttpContext context, OrderedIngestion<TEvent> ingestion, int maxBodySize)
    {
        var request = context.Request;
        if (request.ContentLength > maxBodySize)
        {
            await BadRequest(context, $"The body has {request.ContentLength} bytes; this ingestion accepts at most {maxBodySize}.").ConfigureAwait(false);
            return;
        }

        var body = new byte[maxBodySize + 1];
        var length = 0;
        int read;
        while (length < body.Length && (read = await request.Body.ReadAsync(body.AsMemory(length), context.RequestAborted).ConfigureAwait(false)) > 0)
        {
            length += read;
        }

        if (length > maxBodySize)
        {
            await BadRequest(context, $"The body is larger than {maxBodySize} bytes, the most this ingestion accepts.").ConfigureAwait(false);
            return;
        }

        var events = new List<TEvent>();
        try
        {
            using var document = JsonDocument.Parse(body.AsMemory(0, length));
            var root = document.RootElement;
            IEnumerable<JsonElement> elements = root.ValueKind switch
            {
                JsonValueKind.Array => root.EnumerateArray(),
                JsonValueKind.Object => [root],
                _ => throw new JsonException($"Expected an event object or an array of events, not {root.ValueKind}."),
            };
            foreach (var element in elements)
            {
                events.Add(element.Deserialize(ingestion.EventTypeInfo) ?? throw new JsonException($"Event {events.Count} is null."));
            }
        }
        catch (JsonException exception)
        {
            await BadRequest(context, $"The body is not valid JSON for {typeof(TEvent).Name}: {exception.Message}").ConfigureAwait(false);
            return;
        }

        if (events.Count == 0)
        {
            await BadRequest(context, "The body holds no events.").ConfigureAwait(false);
            return;
        }

        IReadOnlyList<long> ids;
        try
        {
            ids = await ingestion.AppendAsync(events, context.RequestAborted).ConfigureAwait(false);
        }
        catch (ArgumentException exception)
        {
            await BadRequest(context, exception.Message.Replace(" (Parameter 'events')", string.Empty, StringComparison.Ordinal)).ConfigureAwait(false);
            return;
        }
        catch (InvalidOperationException exception)
        {
            await Results.Problem(exception.Message, statusCode: StatusCodes.Status503ServiceUnavailable).ExecuteAsync(context).ConfigureAwait(false);
            return;
        }

        var baseUrl = $"{request.PathBase}{request.Path}".TrimEnd('/');
        var statusUrls = ids.Select(id => $"{baseUrl}/{id}").ToArray();
        context.Response.StatusCode = StatusCodes.Status202Accepted;
        context.Response.Headers.Location = statusUrls[0];
        await context.Response.WriteAsJsonAsync(new IngestionAccepted(ids, statusUrls), IngestionJsonContext.Default.IngestionAccepted, cancellationToken: context.RequestAborted).ConfigureAwait(false);
    }

    private static async Task StatusAsync<TEvent>(HttpContext context, OrderedIngestion<TEvent> ingestion)
    {
        var id = long.Parse((string)context.Request.RouteValues["id"]!, System.Globalization.CultureInfo.InvariantCulture);
        if (await ingestion.GetAsync(id, context.RequestAborted).ConfigureAwait(false) is not { } logged)
        {
            await Results.Problem($"There is no event {id} in ingestion '{ingestion.Name}'.", statusCode: StatusCodes.Status404NotFound).ExecuteAsync(context).ConfigureAwait(false);
            return;
        }

        var status = new IngestedEventStatus(logged.Id, logged.Key, logged.State, logged.Attempts, logged.LastError, logged.BlockingId, logged.RetryAt);
        await context.Response.WriteAsJsonAsync(status, IngestionJsonContext.Default.IngestedEventStatus, cancellationToken: context.RequestAborted).ConfigureAwait(false);
    }

    private static async Task ReleaseAsync<TEvent>(HttpContext context, OrderedIngestion<TEvent> ingestion)
    {
        var key = (string)context.Request.RouteValues["key"]!;
        if (await ingestion.ReleaseKeyAsync(key, context.RequestAborted).ConfigureAwait(false))
        {
            context.Response.StatusCode = StatusCodes.Status204NoContent;
            return;
        }

        await Results.Problem($"The key '{key}' of ingestion '{ingestion.Name}' is not parked.", statusCode: StatusCodes.Status404NotFound).ExecuteAsync(context).ConfigureAwait(false);
    }

    private static Task BadRequest(HttpContext context, string detail) =>
        Results.Problem(detail, statusCode: StatusCodes.Status400BadRequest, title: "The events were not accepted; nothing was appended.").ExecuteAsync(context);
}
