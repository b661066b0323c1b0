using Coordination.Tasks;
using Npgsql;
using NpgsqlTypes;

namespace Coordination.PostgreSql;

/// <summary>The task store's SQL for one schema, and the reading of its rows.</summary>
/// <remarks>Every statement takes the store's now from <c>@now</c>, which is <c>null</c> (the database's <c>now()</c>)
/// except in the conformance tests, which drive the clock. A leased task is one whose not-before lies ahead and differs
/// from its ready-at (a scheduled one has both equal).</remarks>
internal sealed class TaskSql
{
    /// <summary>The SQLSTATE <c>lock_fenced_tasks</c> raises when a task was claimed since.</summary>
    public const string FenceFailedState = "CO001";

    /// <summary>The SQLSTATE <c>lock_fenced_tasks</c> raises when a task is gone.</summary>
    public const string TaskGoneState = "CO002";

    private const string Columns = "id, task_group, not_before, ready_at, lease_version, attempts, error, payload, content_type, trace_parent";
    private const string Now = "coalesce(@now, now())";

    public TaskSql(string schema)
    {
        var s = PostgreSqlSchema.Quote(schema);
        Channel = $"{schema}.tasks";
        LockFenced = $"select {s}.lock_fenced_tasks(@ids, @versions)";
        Create = $"""
            insert into {s}.tasks (task_group, not_before, ready_at, attempts, error, payload, content_type, trace_parent)
            select @group, at, at, @attempts, @error, @payload, @content_type, @trace_parent
            from (select coalesce(@not_before, {Now}) as at) t
            returning {Columns}
            """;
        Delete = $"delete from {s}.tasks where id = @id returning {Columns}";
        Update = $"""
            update {s}.tasks set task_group = @group, not_before = t.at, ready_at = t.at, attempts = @attempts, error = @error,
                payload = @payload, content_type = @content_type, trace_parent = @trace_parent
            from (select coalesce(@not_before, {Now}) as at) t
            where id = @id returning {Columns}
            """;
        Move = $"update {s}.tasks set task_group = @group, error = @error, not_before = {Now}, ready_at = {Now} where id = @id returning {Columns}";
        Disown = $"update {s}.tasks set not_before = {Now} + @delay, ready_at = {Now} + @delay, error = coalesce(@error, error) where id = @id returning {Columns}";
        Reown = $"update {s}.tasks set not_before = {Now} + @delay where id = @id returning {Columns}";
        Pred = $"select {Columns} from {s}.tasks where id = @id";
        Notify = "select pg_notify(@channel, g) from unnest(@groups) as g";

        // One statement claims a batch: the ready head of the group in (not_before, id) order, skipping rows another
        // claimer holds locked, so racing claimers never wait for each other or take the same task.
        ClaimBatch = $"""
            with picked as (
                select id, not_before from {s}.tasks
                where task_group = @group and not_before <= {Now}
                order by not_before, id
                limit @max
                for update skip locked)
            update {s}.tasks t set not_before = {Now} + @delay, lease_version = t.lease_version + 1, attempts = t.attempts + 1
            from picked where t.id = picked.id
            returning t.id, t.task_group, t.not_before, t.ready_at, t.lease_version, t.attempts, t.error, t.payload, t.content_type, t.trace_parent, picked.not_before
            """;
        Peek = $"select {Columns} from {s}.tasks where task_group = @group and not_before <= {Now} order by not_before, id limit 1";
        Count = $"""
            select count(*) filter (where not_before <= n.t),
                   count(*) filter (where not_before > n.t and not_before <> ready_at),
                   count(*) filter (where not_before > n.t and not_before = ready_at)
            from {s}.tasks, (select {Now} as t) n where task_group = @group
            """;
        Claim = $"""
            update {s}.tasks t set not_before = case when @forever then 'infinity' else n.t + @delay end,
                lease_version = t.lease_version + 1, attempts = t.attempts + 1,
                claim_worker = @worker, claim_version = t.lease_version + 1, claimed_at = n.t
            from (select {Now} as t) n
            where t.id = @id and t.task_group = @group and t.not_before <= n.t
            returning t.id, t.task_group, t.not_before, t.ready_at, t.lease_version, t.attempts, t.error, t.payload, t.content_type, t.trace_parent, t.claimed_at
            """;
        Release = $"""
            update {s}.tasks t set not_before = n.t, ready_at = n.t from (select {Now} as t) n
            where t.id = @id and t.task_group = @group and t.claim_worker = @worker and t.claim_version = t.lease_version
            returning t.id
            """;
        Extend = $"""
            update {s}.tasks t set not_before = case when t.not_before = 'infinity' then t.not_before when @forever then 'infinity' else n.t + @delay end
            from (select {Now} as t) n
            where t.id = @id and t.task_group = @group and t.claim_worker = @worker and t.claim_version = t.lease_version
                and t.not_before > n.t and t.not_before <> t.ready_at
            returning t.id, t.task_group, t.not_before, t.ready_at, t.lease_version, t.attempts, t.error, t.payload, t.content_type, t.trace_parent, t.claimed_at
            """;
        ClaimState = $"""
            select t.task_group = @group, t.claim_worker is not distinct from @worker, t.claim_version is not distinct from t.lease_version,
                   t.not_before > n.t and t.not_before <> t.ready_at
            from {s}.tasks t, (select {Now} as t) n where t.id = @id
            """;
        FindAvailable = $"""
            select {Columns} from {s}.tasks
            where not_before <= {Now} and (@groups::text[] is null or task_group = any(@groups))
            order by claim_worker is not distinct from @worker, not_before, id
            limit @max
            """;
    }

    public string Channel { get; }

    public string LockFenced { get; }

    public string Create { get; }

    public string Delete { get; }

    public string Update { get; }

    public string Move { get; }

    public string Disown { get; }

    public string Reown { get; }

    public string Pred { get; }

    public string Notify { get; }

    public string ClaimBatch { get; }

    public string Peek { get; }

    public string Count { get; }

    public string Claim { get; }

    public string Release { get; }

    public string Extend { get; }

    /// <summary>Of one task: in the group, last named claim by the worker, that claim current, leased now.</summary>
    public string ClaimState { get; }

    public string FindAvailable { get; }

    /// <summary>Reads a task from the first ten columns of a row, in <see cref="Columns"/> order.</summary>
    public static TaskItem ReadTask(NpgsqlDataReader reader) => new()
    {
        Id = reader.GetInt64(0),
        Group = reader.GetString(1),
        NotBefore = reader.GetFieldValue<DateTimeOffset>(2),
        ReadyAt = reader.GetFieldValue<DateTimeOffset>(3),
        LeaseVersion = reader.GetInt64(4),
        Attempts = reader.GetInt32(5),
        Error = reader.IsDBNull(6) ? null : reader.GetString(6),
        Payload = reader.GetFieldValue<byte[]>(7),
        ContentType = reader.IsDBNull(8) ? null : reader.GetString(8),
        TraceParent = reader.IsDBNull(9) ? null : reader.GetString(9),
    };

    /// <summary>Adds the store's now: <c>null</c> for the database's clock, or the test clock's time.</summary>
    public static void AddNow(NpgsqlParameterCollection parameters, TimeProvider? clock) =>
        parameters.Add(new NpgsqlParameter("now", NpgsqlDbType.TimestampTz) { Value = clock is null ? DBNull.Value : clock.GetUtcNow() });

    public static NpgsqlParameter Parameter(string name, object? value, NpgsqlDbType type) => new(name, type) { Value = value ?? DBNull.Value };

    /// <summary>A time as the database takes it: UTC, or <c>null</c> for "now" when it is <see langword="default"/>.</summary>
    public static object? Time(DateTimeOffset at) => at == default ? null : at.ToUniversalTime();
}
