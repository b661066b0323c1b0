using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Coordination.HttpBenchmarks.Driver;

/// <summary>What the clients that did not abort got, and how many aborted.</summary>
internal sealed record AbortReport(
    long Intact,
    long ServerErrors,
    long OtherStatus,
    long Truncated,
    long ConnectionErrors,
    long AbortedWhileWaiting,
    long AbortedMidResponse,
    long AbortedLeaders,
    TimeSpan Elapsed)
{
    /// <summary>Responses the non-aborting clients got (whole or not) per second.</summary>
    public double RequestsPerSecond => (Intact + ServerErrors + OtherStatus + Truncated + ConnectionErrors) / Elapsed.TotalSeconds;

    /// <summary>Everything a client that stayed should not have seen.</summary>
    public long Failures => ServerErrors + OtherStatus + Truncated + ConnectionErrors;
}

/// <summary>
/// Keeps <c>concurrency</c> requests for one URL in flight over raw keep-alive connections for a while. A fraction
/// of them is abandoned: half while waiting for the response head (after 1–45 ms), half once the first piece of the
/// body has arrived; an abandoned request's connection is reset, as a client that goes away does. Every other
/// response must be a 2xx with an intact <see cref="HerdBody"/>: anything else is counted. Each client sends at
/// least one request, however short the run.
/// </summary>
internal sealed class AbortClient(IPEndPoint endpoint, string path, int concurrency, double abortFraction)
{
    private static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(30);

    private long _intact;
    private long _serverErrors;
    private long _otherStatus;
    private long _truncated;
    private long _connectionErrors;
    private long _abortedWhileWaiting;
    private long _abortedMidResponse;
    private long _abortedLeaders;

    public async Task<AbortReport> RunAsync(TimeSpan duration)
    {
        var started = Stopwatch.GetTimestamp();
        var deadline = started + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(client => Task.Run(() => ClientAsync(new Random(client + 1), deadline))));
        return new AbortReport(
            _intact, _serverErrors, _otherStatus, _truncated, _connectionErrors,
            _abortedWhileWaiting, _abortedMidResponse, _abortedLeaders, Stopwatch.GetElapsedTime(started));
    }

    private async Task ClientAsync(Random random, long deadline)
    {
        var host = endpoint.ToString();
        RawHttpConnection? connection = null;
        try
        {
            do
            {
                using var timeout = new CancellationTokenSource(RequestTimeout);
                var keepConnection = false;
                try
                {
                    connection ??= await RawHttpConnection.OpenAsync(endpoint, timeout.Token);
                    await connection.SendGetAsync(host, path, timeout.Token);
                    var roll = random.NextDouble();
                    keepConnection = roll >= abortFraction ? await CompleteAsync(connection, head: null, timeout.Token)
                        : roll < abortFraction / 2 ? await AbortWhileWaitingAsync(connection, TimeSpan.FromMilliseconds(random.Next(1, 46)), timeout.Token)
                        : await AbortMidResponseAsync(connection, head: null, timeout.Token);
                }
                catch (Exception e) when (e is SocketException or IOException or OperationCanceledException or ObjectDisposedException)
                {
                    // Reset, closed or timed out before the response head.
                    Interlocked.Increment(ref _connectionErrors);
                }

                if (!keepConnection)
                {
                    connection?.Dispose();
                    connection = null;
                }
            }
            while (Stopwatch.GetTimestamp() < deadline);
        }
        finally
        {
            connection?.Dispose();
        }
    }

    private async Task<bool> AbortWhileWaitingAsync(RawHttpConnection connection, TimeSpan after, CancellationToken cancellationToken)
    {
        var head = connection.ReadHeadAsync(cancellationToken);
        if (await Task.WhenAny(head, Task.Delay(after, cancellationToken)) == head)
        {
            // The head came first: abandon the body instead.
            return await AbortMidResponseAsync(connection, await head, cancellationToken);
        }

        connection.Abort();
        try
        {
            await head;
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException or OperationCanceledException)
        {
            // The read ends with the socket.
        }

        Interlocked.Increment(ref _abortedWhileWaiting);
        return false;
    }

    private async Task<bool> AbortMidResponseAsync(RawHttpConnection connection, ResponseHead? head, CancellationToken cancellationToken)
    {
        head ??= await connection.ReadHeadAsync(cancellationToken);
        if (head is null)
        {
            Interlocked.Increment(ref _connectionErrors);
            return false;
        }

        if (connection.Buffered == 0 && head.ContentLength > 0)
        {
            await connection.ReceiveMoreAsync(cancellationToken);
        }

        if (head.ContentLength is { } length && connection.Buffered < length)
        {
            connection.Abort();
            Interlocked.Increment(ref _abortedMidResponse);
            if (head.Role == "leader")
            {
                Interlocked.Increment(ref _abortedLeaders);
            }

            return false;
        }

        // The whole response was already here: too late to abandon it, so it counts as any other.
        return await CompleteAsync(connection, head, cancellationToken);
    }

    private async Task<bool> CompleteAsync(RawHttpConnection connection, ResponseHead? head, CancellationToken cancellationToken)
    {
        head ??= await connection.ReadHeadAsync(cancellationToken);
        if (head is null)
        {
            Interlocked.Increment(ref _connectionErrors);
            return false;
        }

        byte[]? body;
        try
        {
            body = await connection.ReadBodyAsync(head, cancellationToken);
        }
        catch (Exception e) when (e is SocketException or IOException)
        {
            body = null; // reset in the middle of the body
        }

        if (head.StatusCode >= 500)
        {
            Interlocked.Increment(ref _serverErrors);
        }
        else if (body is null || (head.StatusCode == 200 && !HerdBody.IsIntact(body)))
        {
            Interlocked.Increment(ref _truncated);
        }
        else if (head.StatusCode is >= 200 and < 300)
        {
            Interlocked.Increment(ref _intact);
        }
        else
        {
            Interlocked.Increment(ref _otherStatus);
        }

        return body is not null && !head.ConnectionClose;
    }
}
