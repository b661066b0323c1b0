using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Npgsql;

namespace Coordination.PostgreSql;

/// <summary>The database schema of the PostgreSQL backend: versioned migrations in one idempotent script.</summary>
/// <remarks>
/// <para>The script takes a transaction-scoped advisory lock, so several nodes starting at once apply each migration
/// exactly once; it records every applied version in <c>{schema}.schema_version</c> and skips what is there, so it can
/// run any number of times. <c>UsePostgreSql</c> runs it at startup unless <see cref="PostgreSqlCoordinationOptions.MigrateOnStartup"/>
/// is off; teams that migrate with their own tools take it from <see cref="GetMigrationScript"/>.</para>
/// </remarks>
public static partial class PostgreSqlSchema
{
    /// <summary>The schema the backend uses unless told otherwise.</summary>
    /// <value><c>coordination</c>.</value>
    public const string DefaultSchema = "coordination";

    /// <summary>Gets the version the script brings a schema to.</summary>
    /// <value>The highest migration version.</value>
    public static int LatestVersion => Migrations.Length;

    // Each entry is one version, applied in order and never edited once shipped: a change is a new entry.
    // {s} stands for the quoted schema name.
    private static readonly string[] Migrations =
    [
        """
        create table {s}.tasks (
            id bigint generated always as identity primary key,
            task_group text not null,
            not_before timestamptz not null,
            ready_at timestamptz not null,
            lease_version bigint not null default 0,
            attempts integer not null default 0,
            error text,
            payload bytea not null,
            content_type text,
            trace_parent text,
            claim_worker text,
            claim_version bigint,
            claimed_at timestamptz
        );
        -- The only index besides the key: it serves the claim (group, ready first, then id) and the counts.
        create index tasks_claim_order on {s}.tasks (task_group, not_before, id);

        -- Locks the named tasks in id order (no deadlock between two calls) and fails the whole transaction unless
        -- every one is still at the named lease version: the fence of every write but a create.
        create function {s}.lock_fenced_tasks(ids bigint[], versions bigint[]) returns void
        language plpgsql as $fn$
        declare
            stale record;
        begin
            perform 1 from {s}.tasks where id = any(ids) order by id for update;
            select f.id, f.version, t.lease_version as current into stale
            from unnest(ids, versions) as f(id, version)
            left join {s}.tasks t on t.id = f.id
            where t.id is null or t.lease_version <> f.version
            limit 1;
            if found then
                -- CO001: claimed since; CO002: gone.
                raise exception using
                    errcode = case when stale.current is null then 'CO002' else 'CO001' end,
                    message = format('Task %s at lease version %s is %s; nothing was changed.', stale.id, stale.version,
                        case when stale.current is null then 'gone' else 'at lease version ' || stale.current end);
            end if;
        end
        $fn$;
        """,
        """
        -- Ordered ingestion (one log per ingestion name). Events are never updated but for their state, and succeeded
        -- ones are deleted by the retention sweep.
        create table {s}.ingestion_events (
            id bigint generated always as identity primary key,
            ingestion text not null,
            key text not null,
            payload text not null,
            state smallint not null default 0,
            attempts integer not null default 0,
            last_error text,
            blocking_id bigint,
            retry_at timestamptz,
            finished_at timestamptz,
            -- when the log accepted the event (the app's clock, as the rest of the ingestion's times), and the W3C
            -- trace context of the request that appended it: the handling continues that trace.
            accepted_at timestamptz not null,
            trace_parent text
        );
        -- The events that are not terminal (0 pending, 1 waiting, 2 failed), per key in id order: a key's head is one
        -- probe, the distinct keys a skip scan, a key's run a range read; held keys cost nothing.
        create index ingestion_events_pending_by_key on {s}.ingestion_events (ingestion, key, id) where state < 3;
        create index ingestion_events_pending on {s}.ingestion_events (ingestion, id) where state < 3;
        create index ingestion_events_finished on {s}.ingestion_events (ingestion, finished_at) where state = 3;

        create table {s}.ingestion_parked_keys (
            ingestion text not null,
            key text not null,
            parked_at timestamptz not null default now(),
            primary key (ingestion, key)
        );

        -- One dispatcher per ingestion at a time. The token grows by one whenever another process takes the lease, and a
        -- row is never deleted (a release only ends it), so a token is never reused.
        create table {s}.ingestion_dispatch_leases (
            ingestion text primary key,
            owner text not null,
            token bigint not null,
            expires_at timestamptz not null
        );

        -- scope is '' for anonymous requests and 'user:' followed by the user otherwise (no nulls in a primary key).
        create table {s}.ingestion_idempotency (
            ingestion text not null,
            scope text not null,
            key text not null,
            fingerprint text not null,
            ids bigint[] not null,
            expires_at timestamptz not null,
            primary key (ingestion, scope, key)
        );
        create index ingestion_idempotency_expiry on {s}.ingestion_idempotency (expires_at);

        -- One append, one transaction, one round trip. Before inserting, it takes a transaction-scoped advisory lock per
        -- distinct key, in the order of the lock ids (no deadlock between two appends): appends to the same key are
        -- serialized until commit, so a key's ids are drawn from the sequence, and become visible, in id order.
        create function {s}.append_events(
            p_ingestion text, p_keys text[], p_payloads text[], p_trace_parents text[],
            p_scope text, p_idempotency_key text, p_fingerprint text, p_now timestamptz, p_window interval,
            out outcome integer, out ids bigint[])
        language plpgsql as $fn$
        declare
            first_fingerprint text;
            first_ids bigint[];
        begin
            if p_idempotency_key is not null then
                delete from {s}.ingestion_idempotency
                where ingestion = p_ingestion and scope = p_scope and key = p_idempotency_key and expires_at <= p_now;
                insert into {s}.ingestion_idempotency (ingestion, scope, key, fingerprint, ids, expires_at)
                values (p_ingestion, p_scope, p_idempotency_key, p_fingerprint, '{}', p_now + p_window)
                on conflict do nothing;
                if not found then
                    select i.fingerprint, i.ids into first_fingerprint, first_ids from {s}.ingestion_idempotency i
                    where i.ingestion = p_ingestion and i.scope = p_scope and i.key = p_idempotency_key;
                    if first_fingerprint = p_fingerprint then
                        outcome := 1;
                        ids := first_ids;
                    else
                        outcome := 2;
                        ids := '{}';
                    end if;
                    return;
                end if;
            end if;

            perform pg_advisory_xact_lock(l.lock_id)
            from (select distinct hashtextextended('coordination.ingestion/' || p_ingestion || '/' || k, 0) as lock_id
                  from unnest(p_keys) as k order by 1) as l;
            with inserted as (
                insert into {s}.ingestion_events (ingestion, key, payload, accepted_at, trace_parent)
                select p_ingestion, e.key, e.payload, p_now, e.trace_parent
                from unnest(p_keys, p_payloads, p_trace_parents) with ordinality as e(key, payload, trace_parent, n)
                order by e.n
                returning id)
            select coalesce(array_agg(i.id order by i.id), '{}') into ids from inserted i;
            outcome := 0;
            if p_idempotency_key is not null then
                update {s}.ingestion_idempotency set ids = append_events.ids
                where ingestion = p_ingestion and scope = p_scope and key = p_idempotency_key;
            end if;
        end
        $fn$;
        """,
    ];

    /// <summary>Gets the SQL script that creates or upgrades the schema to <see cref="LatestVersion"/>: idempotent,
    /// safe to run from several nodes at once, one transaction.</summary>
    /// <param name="schema">The schema name: lowercase letters, digits and underscores, starting with a letter or an underscore.</param>
    /// <returns>The script.</returns>
    /// <exception cref="ArgumentException"><paramref name="schema"/> is not a plain lowercase identifier.</exception>
    public static string GetMigrationScript(string schema = DefaultSchema)
    {
        var s = Quote(schema);
        var script = new StringBuilder();
        script.AppendLine("begin;");
        script.AppendLine(CultureInfo.InvariantCulture, $"select pg_advisory_xact_lock(hashtextextended('coordination.migrate.' || {Literal(schema)}, 0));");
        script.AppendLine(CultureInfo.InvariantCulture, $"create schema if not exists {s};");
        script.AppendLine(CultureInfo.InvariantCulture, $"create table if not exists {s}.schema_version (version integer primary key, applied_at timestamptz not null default now());");
        for (var i = 0; i < Migrations.Length; i++)
        {
            var version = i + 1;
            script.AppendLine(CultureInfo.InvariantCulture, $"-- version {version}");
            script.AppendLine("do $migration$ begin");
            script.AppendLine(CultureInfo.InvariantCulture, $"if not exists (select 1 from {s}.schema_version where version = {version}) then");
            script.AppendLine(Migrations[i].Replace("{s}", s, StringComparison.Ordinal));
            script.AppendLine(CultureInfo.InvariantCulture, $"insert into {s}.schema_version (version) values ({version});");
            script.AppendLine("end if;");
            script.AppendLine("end $migration$;");
        }

        script.AppendLine("commit;");
        return script.ToString();
    }

    /// <summary>Reads the version a schema is at: 0 when it does not exist.</summary>
    /// <param name="dataSource">The database.</param>
    /// <param name="schema">The schema name.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The highest applied migration version, or 0.</returns>
    public static async Task<int> GetVersionAsync(NpgsqlDataSource dataSource, string schema = DefaultSchema, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(dataSource);
        var s = Quote(schema);
        using (var exists = dataSource.CreateCommand($"select to_regclass('{s}.schema_version') is not null"))
        {
            if (await exists.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) is not true)
            {
                return 0;
            }
        }

        using var version = dataSource.CreateCommand($"select coalesce(max(version), 0) from {s}.schema_version");
        return Convert.ToInt32(await version.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false), CultureInfo.InvariantCulture);
    }

    /// <summary>Validates a schema name and quotes it as an identifier.</summary>
    internal static string Quote(string schema)
    {
        ArgumentException.ThrowIfNullOrEmpty(schema);
        if (!PlainIdentifier().IsMatch(schema))
        {
            throw new ArgumentException($"Schema name '{schema}' is not allowed: use lowercase letters, digits and underscores, starting with a letter or an underscore, at most 50 characters.", nameof(schema));
        }

        return $"\"{schema}\"";
    }

    private static string Literal(string schema) => $"'{schema}'";

    [GeneratedRegex("^[a-z_][a-z0-9_]{0,49}$")]
    private static partial Regex PlainIdentifier();
}
