using System.Text.Json;
using System.Text.Json.Serialization;

namespace Coordination.AspNetCore;

/// <summary>The ingestion endpoints' responses, serialized without reflection.</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, UseStringEnumConverter = true)]
[JsonSerializable(typeof(IngestionAccepted))]
[JsonSerializable(typeof(IngestedEventStatus))]
internal sealed partial class IngestionJsonContext : JsonSerializerContext;

/// <summary>The answer to an accepted POST: the ids and where to follow each event.</summary>
internal sealed record IngestionAccepted(IReadOnlyList<long> Ids, IReadOnlyList<string> StatusUrls);

/// <summary>An event's status as <c>GET {pattern}/{id}</c> reports it.</summary>
internal sealed record IngestedEventStatus(long Id, string Key, Coordination.Ingestion.EventState State, int Attempts, string? LastError, long? BlockingId, DateTimeOffset? RetryAt);
