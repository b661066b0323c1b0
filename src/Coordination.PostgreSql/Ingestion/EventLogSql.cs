using Coordination.Ingestion;
using Npgsql;

namespace Coordination.PostgreSql;

/// <summary>The PostgreSQL event log's SQL for one schema, and the reading of its rows.</summary>
/// <remarks>Every statement names its ingestion (<c>@ingestion</c>): one table holds the logs of every ingestion.
/// Times come from the application's clock (<c>@now</c>), the one the dispatcher computes retry times with.</remarks>
internal sealed class EventLogSql
{
    private const string Columns = "id, key, payload, state, attempts, last_error, blocking_id, retry_at, accepted_at, trace_parent";

    public EventLogSql(string schema)
    {
        var s = PostgreSqlSchema.Quote(schema);
        Append = $"select outcome, ids from {s}.append_events(@ingestion, @keys, @payloads, @trace_parents, @scope, @idempotency_key, @fingerprint, @now, @window)";
        Get = $"select {Columns} from {s}.ingestion_events where ingestion = @ingestion and id = @id";
        ReadPending = $"select {Columns} from {s}.ingestion_events where ingestion = @ingestion and state < 3 and id > @after order by id limit @max";
        // The states of several events in one statement (group commit: see EventStateWriter). Fenced: an event read under
        // a lease (its token) is saved only while that lease is the current one. The lease row is locked (FOR SHARE)
        // until the commit, so a takeover (which updates that row) waits for the save, and a save that waited for a
        // takeover sees the new token and is rejected: a former holder's late save never overwrites the new holder's.
        // Returns, per event, whether it was saved and whether it exists (a lost lease or a missing event).
        SaveStates = $"""
            with lease as (
                select token from {s}.ingestion_dispatch_leases where ingestion = @ingestion for share),
            input as (
                select * from unnest(@ids, @states, @attempts, @last_errors, @blocking_ids, @retry_ats, @tokens)
                    as i(id, state, attempts, last_error, blocking_id, retry_at, token)),
            saved as (
                update {s}.ingestion_events e
                set state = i.state, attempts = i.attempts, last_error = i.last_error, blocking_id = i.blocking_id,
                    retry_at = i.retry_at, finished_at = case when i.state >= 3 then @now end
                from input i
                where e.ingestion = @ingestion and e.id = i.id
                  and (i.token is null or i.token = (select token from lease))
                returning e.id)
            select i.id, exists (select 1 from saved where saved.id = i.id),
                   exists (select 1 from {s}.ingestion_events e where e.ingestion = @ingestion and e.id = i.id)
            from input i
            """;
        Park = $"""
            insert into {s}.ingestion_parked_keys (ingestion, key, parked_at)
            select @ingestion, @key, @now where {LeaseIsCurrent(s)}
            on conflict do nothing
            """;

        // Taken when free or lapsed (the token grows), renewed by its owner (the token stays).
        AcquireLease = $"""
            insert into {s}.ingestion_dispatch_leases as l (ingestion, owner, token, expires_at)
            values (@ingestion, @owner, 1, @now + @duration)
            on conflict (ingestion) do update
            set token = case when l.owner = excluded.owner then l.token else l.token + 1 end,
                owner = excluded.owner, expires_at = excluded.expires_at
            where l.owner = excluded.owner or l.expires_at <= @now
            returning token
            """;
        // Replay: the key's append lock first (the copy's id must become visible in order, like an append's), then
        // the dead letter is moved to a new id in one statement.
        LockDeadLetterKey = $"""
            select pg_advisory_xact_lock(hashtextextended('coordination.ingestion/' || ingestion || '/' || key, 0))
            from {s}.ingestion_events where ingestion = @ingestion and id = @id and state = 4
            """;
        Replay = $"""
            with dead as (delete from {s}.ingestion_events where ingestion = @ingestion and id = @id and state = 4 returning key, payload, trace_parent)
            insert into {s}.ingestion_events (ingestion, key, payload, accepted_at, trace_parent) select @ingestion, key, payload, @now, trace_parent from dead
            returning id
            """;
        DeleteSucceeded = $"""
            with doomed as (
                select id from {s}.ingestion_events
                where ingestion = @ingestion and state = 3 and finished_at < @before
                order by finished_at limit @max),
            deleted as (delete from {s}.ingestion_events e using doomed where e.id = doomed.id returning 1)
            select count(*)::integer from deleted
            """;
        DeleteExpiredIdempotencyKeys = $"delete from {s}.ingestion_idempotency where ingestion = @ingestion and expires_at <= @now";
        ReleaseLease = $"update {s}.ingestion_dispatch_leases set expires_at = '-infinity' where ingestion = @ingestion and owner = @owner";
        Release = $"delete from {s}.ingestion_parked_keys where ingestion = @ingestion and key = @key";
        ParkedKeys = $"select key from {s}.ingestion_parked_keys where ingestion = @ingestion";

        // The distinct keys with pending events by a skip scan of the partial index (one probe per key, however long
        // its backlog), then the dispatchable ones in the order of their heads, then a run of each from its head.
        ReadDispatchable = $"""
            with recursive keys as (
                (select key from {s}.ingestion_events where ingestion = @ingestion and state < 3 order by key limit 1)
                union all
                select next.key from keys k cross join lateral (
                    select key from {s}.ingestion_events
                    where ingestion = @ingestion and state < 3 and key > k.key
                    order by key limit 1) next
            ), heads as (
                select h.id, h.key from keys k cross join lateral (
                    select id, key, state, retry_at from {s}.ingestion_events
                    where ingestion = @ingestion and state < 3 and key = k.key
                    order by id limit 1) h
                where not (h.key = any(@held))
                  and not (h.state = 2 and h.retry_at > @now)
                  and not exists (select 1 from {s}.ingestion_parked_keys p where p.ingestion = @ingestion and p.key = h.key)
                order by h.id
                limit @max_keys
            )
            select e.id, e.key, e.payload, e.state, e.attempts, e.last_error, e.blocking_id, e.retry_at, e.accepted_at, e.trace_parent
            from heads h cross join lateral (
                select * from {s}.ingestion_events
                where ingestion = @ingestion and state < 3 and key = h.key
                order by id limit @max_events) e
            order by h.id, e.id
            limit @max_events
            """;
    }

    public string Append { get; }

    public string AcquireLease { get; }

    public string ReleaseLease { get; }

    public string LockDeadLetterKey { get; }

    public string Replay { get; }

    public string DeleteSucceeded { get; }

    public string DeleteExpiredIdempotencyKeys { get; }

    public string Get { get; }

    public string ReadPending { get; }

    public string ReadDispatchable { get; }

    public string SaveStates { get; }

    public string Park { get; }

    public string Release { get; }

    public string ParkedKeys { get; }

    public static LoggedEvent ReadEvent(NpgsqlDataReader reader, long? leaseToken) => new(reader.GetInt64(0), reader.GetString(1), reader.GetString(2))
    {
        LeaseToken = leaseToken,
        State = (EventState)reader.GetInt16(3),
        Attempts = reader.GetInt32(4),
        LastError = reader.IsDBNull(5) ? null : reader.GetString(5),
        BlockingId = reader.IsDBNull(6) ? null : reader.GetInt64(6),
        RetryAt = reader.IsDBNull(7) ? null : reader.GetFieldValue<DateTimeOffset>(7),
        AcceptedAt = reader.GetFieldValue<DateTimeOffset>(8),
        TraceParent = reader.IsDBNull(9) ? null : reader.GetString(9),
    };

    /// <summary>True when no lease is named (<c>@token</c> null) or the named one is still the ingestion's current lease;
    /// the lease row stays locked (FOR SHARE) until the commit, so a takeover cannot slip in between.</summary>
    private static string LeaseIsCurrent(string s) =>
        $"(@token::bigint is null or exists (select 1 from {s}.ingestion_dispatch_leases d where d.ingestion = @ingestion and d.token = @token for share))";
}
