using Coordination.Tasks;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Coordination.PostgreSql;

/// <summary>One <c>LISTEN</c> connection per store that turns <c>pg_notify</c> wake-ups into <see cref="ITaskReadyNotifier"/>
/// callbacks; it starts with the first subscription and reconnects after failures with a growing delay.</summary>
/// <remarks>After every (re)connect it wakes every subscriber, since notifications sent while nobody listened are lost.
/// The first connect also sends itself a probe: when it does not come back, something between the app and the server
/// (a transaction-pooling proxy) drops notifications, and a warning says so.</remarks>
internal sealed class TaskNotificationListener(NpgsqlDataSource dataSource, string channel, ILogger logger, TimeSpan probeTimeout) : IAsyncDisposable
{
    // Groups are never empty, so an empty payload can only be the probe.
    private const string Probe = "";
    private static readonly TimeSpan MaxReconnectDelay = TimeSpan.FromSeconds(30);

    private readonly TaskReadySubscriptions _subscriptions = new();
    private readonly CancellationTokenSource _stopping = new();
    private readonly Lock _sync = new();
    private Task? _running;
    private bool _disposed;

    public IDisposable Subscribe(string group, Action onReady)
    {
        var registration = _subscriptions.Subscribe(group, onReady);
        lock (_sync)
        {
            if (_running is null && !_stopping.IsCancellationRequested)
            {
                _running = Task.Run(() => RunAsync(_stopping.Token));
            }
        }

        return registration;
    }

    public async ValueTask DisposeAsync()
    {
        Task? running;
        lock (_sync)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            running = _running;
            _stopping.Cancel();
        }

        if (running is not null)
        {
            await running.ConfigureAwait(false);
        }
    }

    private async Task RunAsync(CancellationToken stopping)
    {
        var delay = TimeSpan.FromSeconds(1);
        var probed = false;
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                var connection = await dataSource.OpenConnectionAsync(stopping).ConfigureAwait(false);
                await using var connectionDisposal = connection.ConfigureAwait(false);
                var probeArrived = false;
                connection.Notification += (_, notification) =>
                {
                    if (notification.Payload == Probe)
                    {
                        probeArrived = true;
                    }
                    else
                    {
                        _subscriptions.Notify(notification.Payload);
                    }
                };
                using (var listen = new NpgsqlCommand($"LISTEN \"{channel}\"", connection))
                {
                    await listen.ExecuteNonQueryAsync(stopping).ConfigureAwait(false);
                }

                PostgreSqlLog.ListenerConnected(logger, channel);
                delay = TimeSpan.FromSeconds(1);
                _subscriptions.NotifyAll();
                if (!probed)
                {
                    probed = true;
                    await ProbeAsync(connection, () => probeArrived, stopping).ConfigureAwait(false);
                }

                while (true)
                {
                    await connection.WaitAsync(stopping).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                return;
            }
            catch (Exception exception)
            {
                PostgreSqlLog.ListenerFailed(logger, channel, delay, exception);
                try
                {
                    await Task.Delay(delay, stopping).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }

                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, MaxReconnectDelay.Ticks));
            }
        }
    }

    /// <summary>Sends the probe from another connection and waits for it on the listening one.</summary>
    private async Task ProbeAsync(NpgsqlConnection listening, Func<bool> arrived, CancellationToken stopping)
    {
        using (var notify = dataSource.CreateCommand("select pg_notify(@channel, @payload)"))
        {
            notify.Parameters.AddWithValue("channel", channel);
            notify.Parameters.AddWithValue("payload", Probe);
            await notify.ExecuteNonQueryAsync(stopping).ConfigureAwait(false);
        }

        var deadline = DateTime.UtcNow + probeTimeout;
        while (!arrived())
        {
            var left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero)
            {
                PostgreSqlLog.NotificationsNotDelivered(logger, channel, probeTimeout);
                return;
            }

            await listening.WaitAsync(left, stopping).ConfigureAwait(false);
        }
    }
}
