using System.Diagnostics;
using Coordination.Ingestion;
using Npgsql;
using NpgsqlTypes;

namespace Coordination.PostgreSql;

/// <summary>Group commit of event states: the saves that arrive while a statement is being written go together in the
/// next one (one round trip, one transaction), so a dispatcher's many workers cost one commit per flush instead of one
/// per event.</summary>
/// <remarks>A worker saves one event at a time and waits for it, so a batch never holds two saves of one key, and a
/// key's states are written in the order its worker produced them. When a statement fails (the database is down), every
/// save in it fails with that exception and nothing of it was written.</remarks>
internal sealed class EventStateWriter(NpgsqlDataSource dataSource, string ingestion, string sql, TimeProvider timeProvider)
{
    private readonly Lock _sync = new();
    private List<PendingSave> _queued = [];
    private bool _writing;

    /// <summary>What became of a save.</summary>
    public enum Outcome
    {
        /// <summary>The state is committed.</summary>
        Saved,

        /// <summary>The event was read under a lease that passed to another dispatcher; nothing was written.</summary>
        LeaseLost,

        /// <summary>There is no such event in the log.</summary>
        Missing,
    }

    /// <summary>Queues a save; the task completes once the statement holding it has committed (or failed).</summary>
    public Task<Outcome> SaveAsync(LoggedEvent logged)
    {
        var pending = new PendingSave(logged);
        lock (_sync)
        {
            _queued.Add(pending);
            if (_writing)
            {
                return pending.Task;
            }

            _writing = true;
        }

        _ = Task.Run(WriteQueuedAsync);
        return pending.Task;
    }

    /// <summary>Writes what is queued, one statement at a time, until nothing is; one such loop runs at a time.</summary>
    private async Task WriteQueuedAsync()
    {
        while (true)
        {
            List<PendingSave> batch;
            lock (_sync)
            {
                Debug.Assert(_writing, "Only the one writing loop takes batches.");
                if (_queued.Count == 0)
                {
                    _writing = false;
                    return;
                }

                (batch, _queued) = (_queued, []);
            }

            try
            {
                await WriteAsync(batch).ConfigureAwait(false);
            }
            catch (Exception exception)
            {
                foreach (var pending in batch)
                {
                    pending.TrySetException(exception);
                }
            }
        }
    }

    private async Task WriteAsync(List<PendingSave> batch)
    {
        var events = batch.ConvertAll(p => p.Event);
        using var command = dataSource.CreateCommand(sql);
        var parameters = command.Parameters;
        parameters.Add(new NpgsqlParameter("ingestion", NpgsqlDbType.Text) { Value = ingestion });
        parameters.Add(new NpgsqlParameter("now", NpgsqlDbType.TimestampTz) { Value = timeProvider.GetUtcNow() });
        parameters.Add(new NpgsqlParameter("ids", NpgsqlDbType.Array | NpgsqlDbType.Bigint) { Value = events.ConvertAll(e => e.Id) });
        parameters.Add(new NpgsqlParameter("states", NpgsqlDbType.Array | NpgsqlDbType.Smallint) { Value = events.ConvertAll(e => (short)e.State) });
        parameters.Add(new NpgsqlParameter("attempts", NpgsqlDbType.Array | NpgsqlDbType.Integer) { Value = events.ConvertAll(e => e.Attempts) });
        parameters.Add(new NpgsqlParameter("last_errors", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = events.ConvertAll(e => e.LastError) });
        parameters.Add(new NpgsqlParameter("blocking_ids", NpgsqlDbType.Array | NpgsqlDbType.Bigint) { Value = events.ConvertAll(e => e.BlockingId) });
        parameters.Add(new NpgsqlParameter("retry_ats", NpgsqlDbType.Array | NpgsqlDbType.TimestampTz) { Value = events.ConvertAll(e => e.RetryAt) });
        parameters.Add(new NpgsqlParameter("tokens", NpgsqlDbType.Array | NpgsqlDbType.Bigint) { Value = events.ConvertAll(e => e.LeaseToken) });

        var outcomes = new Dictionary<long, Outcome>(batch.Count);
        var reader = await command.ExecuteReaderAsync(CancellationToken.None).ConfigureAwait(false);
        await using (reader.ConfigureAwait(false))
        {
            while (await reader.ReadAsync(CancellationToken.None).ConfigureAwait(false))
            {
                outcomes[reader.GetInt64(0)] = reader.GetBoolean(1) ? Outcome.Saved : reader.GetBoolean(2) ? Outcome.LeaseLost : Outcome.Missing;
            }
        }

        foreach (var pending in batch)
        {
            pending.TrySetResult(outcomes[pending.Event.Id]);
        }
    }

    private sealed class PendingSave(LoggedEvent logged) : TaskCompletionSource<Outcome>(TaskCreationOptions.RunContinuationsAsynchronously)
    {
        public LoggedEvent Event { get; } = logged;
    }
}
