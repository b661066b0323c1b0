using System.Buffers;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Coordination.Ingestion;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
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
    /// attempts, last error, blocking id), <c>POST {pattern}/keys/{key}/release</c> (releases a parked key) and
    /// <c>POST {pattern}/{id}/replay</c> (replays a dead letter as a new event: 202 with its id; 409 if the event is not
    /// dead-lettered).
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
        group.MapPost("{id:long}/replay", context => ReplayAsync(context, ingestion));
        return group;
    }

    private static async Task AcceptAsync<TEvent>(HttpContext context, OrderedIngestion<TEvent> ingestion, int maxBodySize)
    {
        var request = context.Request;
        if (!request.HasJsonContentType())
        {
            await Refuse(context, StatusCodes.Status415UnsupportedMediaType, $"The body is '{request.ContentType}'; this ingestion accepts application/json.").ConfigureAwait(false);
            return;
        }

        if (request.ContentLength > maxBodySize)
        {
            await Refuse(context, StatusCodes.Status413PayloadTooLarge, $"The body has {request.ContentLength} bytes; this ingestion accepts at most {maxBodySize}.").ConfigureAwait(false);
            return;
        }

        if (await OrderedIngestionRequestBody.ReadAsync(context, maxBodySize).ConfigureAwait(false) is not { } body)
        {
            await Refuse(context, StatusCodes.Status413PayloadTooLarge, $"The body is larger than {maxBodySize} bytes, the most this ingestion accepts.").ConfigureAwait(false);
            return;
        }

        List<TEvent> events;
        IdempotentAppend? idempotency;
        string? error;
        try
        {
            (events, error) = Parse(body, ingestion.EventTypeInfo);
            (idempotency, var headerError) = OrderedIngestionIdempotency.Read(context, body, ingestion.IdempotencyWindow);
            error ??= headerError;
        }
        finally
        {
            request.BodyReader.AdvanceTo(body.End);
        }

        if (error is not null)
        {
            await Refuse(context, StatusCodes.Status400BadRequest, error).ConfigureAwait(false);
            return;
        }

        AppendResult result;
        try
        {
            result = await ingestion.AppendAsync(events, idempotency, context.RequestAborted).ConfigureAwait(false);
        }
        catch (ArgumentException exception)
        {
            await Refuse(context, StatusCodes.Status400BadRequest, exception.Message).ConfigureAwait(false);
            return;
        }
        catch (IngestionStoppedException exception)
        {
            await Results.Problem(exception.Message, statusCode: StatusCodes.Status503ServiceUnavailable).ExecuteAsync(context).ConfigureAwait(false);
            return;
        }
        catch (IngestionUnavailableException exception)
        {
            context.Response.Headers.RetryAfter = "1";
            await Results.Problem(exception.Message, statusCode: StatusCodes.Status503ServiceUnavailable).ExecuteAsync(context).ConfigureAwait(false);
            return;
        }

        if (result.Outcome == AppendOutcome.FingerprintMismatch)
        {
            await Refuse(
                context,
                StatusCodes.Status422UnprocessableEntity,
                $"The {OrderedIngestionIdempotency.HeaderName} was already used with another body within the last {ingestion.IdempotencyWindow}; use a new key for a new request.").ConfigureAwait(false);
            return;
        }

        if (result.Outcome == AppendOutcome.Replayed)
        {
            context.Response.Headers[OrderedIngestionIdempotency.ReplayedHeaderName] = "true";
        }

        await AcceptedAsync(context, $"{request.PathBase}{request.Path}".TrimEnd('/'), result.Ids).ConfigureAwait(false);
    }

    /// <summary>202 with the ids, their status URLs under <paramref name="baseUrl"/>, and the first one as Location.</summary>
    private static Task AcceptedAsync(HttpContext context, string baseUrl, IReadOnlyList<long> ids)
    {
        var statusUrls = ids.Select(id => $"{baseUrl}/{id}").ToArray();
        context.Response.StatusCode = StatusCodes.Status202Accepted;
        context.Response.Headers.Location = statusUrls[0];
        return context.Response.WriteAsJsonAsync(new IngestionAccepted(ids, statusUrls), IngestionJsonContext.Default.IngestionAccepted, cancellationToken: context.RequestAborted);
    }

    /// <summary>Reads one event object or an array of them; an error when the body is not that.</summary>
    private static (List<TEvent> Events, string? Error) Parse<TEvent>(ReadOnlySequence<byte> body, JsonTypeInfo<TEvent> typeInfo)
    {
        var events = new List<TEvent>();
        try
        {
            using var document = JsonDocument.Parse(body);
            var root = document.RootElement;
            IEnumerable<JsonElement> elements = root.ValueKind switch
            {
                JsonValueKind.Array => root.EnumerateArray(),
                JsonValueKind.Object => [root],
                _ => throw new JsonException($"Expected an event object or an array of events, not {root.ValueKind}."),
            };
            foreach (var element in elements)
            {
                events.Add(element.Deserialize(typeInfo) ?? throw new JsonException($"Event {events.Count} is null."));
            }
        }
        catch (JsonException exception)
        {
            return (events, $"The body is not valid JSON for {typeof(TEvent).Name}: {exception.Message}");
        }

        return events.Count == 0 ? (events, "The body holds no events.") : (events, null);
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

    private static async Task ReplayAsync<TEvent>(HttpContext context, OrderedIngestion<TEvent> ingestion)
    {
        var id = long.Parse((string)context.Request.RouteValues["id"]!, System.Globalization.CultureInfo.InvariantCulture);
        if (await ingestion.ReplayAsync(id, context.RequestAborted).ConfigureAwait(false) is { } copy)
        {
            // The status URLs are siblings of the replayed event's: {pattern}/{id}/replay → {pattern}/{copy}.
            var path = $"{context.Request.PathBase}{context.Request.Path}".TrimEnd('/');
            var baseUrl = path[..path.LastIndexOf('/', path.LastIndexOf('/') - 1)];
            await AcceptedAsync(context, baseUrl, [copy]).ConfigureAwait(false);
            return;
        }

        var logged = await ingestion.GetAsync(id, context.RequestAborted).ConfigureAwait(false);
        await (logged is null
            ? Results.Problem($"There is no event {id} in ingestion '{ingestion.Name}'.", statusCode: StatusCodes.Status404NotFound)
            : Results.Problem($"Event {id} is {logged.State}; only a dead-lettered event can be replayed.", statusCode: StatusCodes.Status409Conflict)).ExecuteAsync(context).ConfigureAwait(false);
    }

    private static async Task ReleaseAsync<TEvent>(HttpContext context, OrderedIngestion<TEvent> ingestion)
    {
        var key = ReleasedKey(context);
        if (await ingestion.ReleaseKeyAsync(key, context.RequestAborted).ConfigureAwait(false))
        {
            context.Response.StatusCode = StatusCodes.Status204NoContent;
            return;
        }

        await Results.Problem($"The key '{key}' of ingestion '{ingestion.Name}' is not parked.", statusCode: StatusCodes.Status404NotFound).ExecuteAsync(context).ConfigureAwait(false);
    }

    /// <summary>The key of <c>POST {pattern}/keys/{key}/release</c>, decoded exactly.</summary>
    /// <remarks>Routing leaves <c>%2F</c> encoded in route values, and its decoding cannot tell an encoded slash from a
    /// literal "%2F" in a key, so the segment is taken from the raw request target and unescaped once. A server without
    /// a raw target (TestServer) gets the route value with its <c>%2F</c> decoded.</remarks>
    private static string ReleasedKey(HttpContext context)
    {
        var target = context.Features.Get<IHttpRequestFeature>()?.RawTarget;
        if (!string.IsNullOrEmpty(target))
        {
            var path = target.AsSpan(0, target.IndexOf('?', StringComparison.Ordinal) is var query and >= 0 ? query : target.Length).TrimEnd('/');
            var release = path.LastIndexOf('/');
            var keyStart = release > 0 ? path[..release].LastIndexOf('/') : -1;
            if (keyStart >= 0)
            {
                return Uri.UnescapeDataString(path[(keyStart + 1)..release].ToString());
            }
        }

        return ((string)context.Request.RouteValues["key"]!).Replace("%2F", "/", StringComparison.OrdinalIgnoreCase);
    }

    private static Task Refuse(HttpContext context, int statusCode, string detail) =>
        Results.Problem(detail, statusCode: statusCode, title: "The events were not accepted; nothing was appended.").ExecuteAsync(context);
}
