using System.Diagnostics.CodeAnalysis;
using System.IO.Pipelines;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace Coordination.AspNetCore;

/// <summary>
/// The leader's response body while its endpoint runs for a flight: everything the endpoint writes (through
/// <c>Body</c>, <c>BodyWriter</c>, <c>SendFileAsync</c>, synchronously or not) goes to the leader's own client as it
/// would alone and, when the response is shared, to its followers.
/// </summary>
/// <remarks>
/// <para>The response starts, and the share decision is made, at the endpoint's first write, flush, <c>StartAsync</c>
/// or <c>CompleteAsync</c>, or when it returns without any: status and headers are known then, and nothing an outer
/// middleware adds later (compression, CORS) is taken for the endpoint's.</para>
/// <para>The server's response is started only by what the endpoint itself does: a response the endpoint leaves
/// unstarted is still open to the middleware around it (status-code pages, headers set after <c>next()</c>).</para>
/// </remarks>
[SuppressMessage("Design", "CA1001", Justification = "The capture stream holds nothing to release; the server owns the stream it writes to.")]
internal sealed class ResponseCaptureFeature : IHttpResponseBodyFeature
{
    /// <summary>A writer over the capture stream leaves it open: the server owns what it writes to.</summary>
    public static readonly StreamPipeWriterOptions WriterOptions = new(leaveOpen: true);

    private readonly IHttpResponseBodyFeature _inner;
    private readonly SingleFlightLeader _leader;
    private ResponseCaptureStream? _stream;
    private PipeWriter? _writer;
    private ResponseCapturePipeWriter? _captureWriter;
    private volatile CapturedResponse? _captured;
    private volatile bool _detached;
    private volatile bool _finished;

    public ResponseCaptureFeature(IHttpResponseBodyFeature inner, SingleFlightLeader leader)
    {
        _inner = inner;
        _leader = leader;
    }

    /// <summary>The body stream; created on first use (an endpoint that writes through <c>BodyWriter</c> never needs it).</summary>
    public Stream Stream => _stream ??= new ResponseCaptureStream(this);

    /// <summary>
    /// The body's pipe writer. Once the response started unshared (the leader's alone), it is the server's own, as
    /// without coalescing; before that, one whose first use starts the response.
    /// </summary>
    public PipeWriter Writer => _writer ??= _captured is { Body: null } ? _inner.Writer : _captureWriter = new ResponseCapturePipeWriter(this);

    /// <summary>Whether the leader's own client left (or its request timed out) before the endpoint finished.</summary>
    public bool Detached => _detached;

    /// <summary>The share decision, once the response started.</summary>
    public CapturedResponse? Captured => _captured;

    public void DisableBuffering() => _inner.DisableBuffering();

    public Task StartAsync(CancellationToken cancellationToken = default)
    {
        var captured = EnsureStarted();
        return _detached ? Task.CompletedTask
            : captured.Body is null ? _inner.StartAsync(cancellationToken)
            : StartSharedAsync(captured, cancellationToken);
    }

    public Task SendFileAsync(string path, long offset, long? count, CancellationToken cancellationToken = default) =>
        _captured is { Body: null } && !_detached
            ? _inner.SendFileAsync(path, offset, count, cancellationToken)
            : SendFileFallback.SendFileAsync(Stream, path, offset, count, cancellationToken);

    public async Task CompleteAsync()
    {
        if (await EndBodyAsync(early: true).ConfigureAwait(false) is { } captured && !_detached)
        {
            await ForwardAsync(captured, () => new ValueTask(_inner.CompleteAsync())).ConfigureAwait(false);
        }
    }

    /// <summary>The endpoint returned: the body is whole. The server's response is left for the outer middleware to finish.</summary>
    public ValueTask FinishAsync()
    {
        var ending = EndBodyAsync(early: false);
        return ending.IsCompletedSuccessfully ? default : new ValueTask(ending.AsTask());
    }

    /// <summary>The leader's own client is gone or timed out: it gets nothing more; the followers go on.</summary>
    public void Detach()
    {
        if (_finished)
        {
            return;
        }

        _detached = true;
        LeaderLeft(_captured);
    }

    public ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken)
    {
        var captured = EnsureStarted();
        if (captured.Body is { } body)
        {
            return WriteSharedAsync(captured, body, buffer, cancellationToken);
        }

        // Not shared: the leader's own response, written as without coalescing.
        return _detached ? default : _inner.Stream.WriteAsync(buffer, cancellationToken);
    }

    public void Write(ReadOnlySpan<byte> buffer)
    {
        var captured = EnsureStarted();
        if (!_detached)
        {
            try
            {
                // Synchronous, as the endpoint asked: the server refuses it unless AllowSynchronousIO, as it would alone.
                _inner.Stream.Write(buffer);
            }
            catch (Exception exception) when (captured.Body is not null && IsClientGone(exception))
            {
                Detach();
            }
        }

        // The endpoint chose synchronous writes: it blocks while the slowest follower is a window behind.
        captured.Body?.AppendAsync(buffer.ToArray()).AsTask().GetAwaiter().GetResult();
    }

    public Task FlushAsync(CancellationToken cancellationToken)
    {
        var captured = EnsureStarted();
        return _detached ? Task.CompletedTask
            : captured.Body is null ? _inner.Stream.FlushAsync(cancellationToken)
            : FlushSharedAsync(captured, cancellationToken);
    }

    public void Flush()
    {
        var captured = EnsureStarted();
        if (!_detached)
        {
            try
            {
                _inner.Stream.Flush();
            }
            catch (Exception exception) when (captured.Body is not null && IsClientGone(exception))
            {
                Detach();
            }
        }
    }

    /// <summary>Starts the response for the first use of the body writer: the server's writer when it is unshared, else <see langword="null"/>.</summary>
    public PipeWriter? StartForWriter() => EnsureStarted().Body is null ? _inner.Writer : null;

    private CapturedResponse EnsureStarted()
    {
        if (_captured is null)
        {
            _captured = _leader.StartResponse();
            if (_detached)
            {
                LeaderLeft(_captured);
            }
        }

        return _captured;
    }

    /// <summary>
    /// The leader's own client is gone. Before the response starts, the flight learns it (with no follower left, the
    /// endpoint's <c>RequestAborted</c> fires); after, it leaves the shared body's audience, and a response that is its
    /// alone has no audience left, so <c>RequestAborted</c> fires, as without coalescing.
    /// </summary>
    private void LeaderLeft(CapturedResponse? captured)
    {
        if (captured is null)
        {
            _leader.LeftBeforeStart();
        }
        else if (ReferenceEquals(captured, CapturedResponse.Alone))
        {
            _leader.EveryClientGone();
        }
        else
        {
            captured.Body?.LeaderLeft();
        }
    }

    // The shared paths are methods of their own: a lambda's captured token would cost every call a closure, taken or not.
    private Task StartSharedAsync(CapturedResponse captured, CancellationToken cancellationToken) =>
        ForwardAsync(captured, () => new ValueTask(_inner.StartAsync(cancellationToken))).AsTask();

    private Task FlushSharedAsync(CapturedResponse captured, CancellationToken cancellationToken) =>
        ForwardAsync(captured, () => new ValueTask(_inner.Stream.FlushAsync(cancellationToken))).AsTask();

    private async ValueTask WriteSharedAsync(CapturedResponse captured, SharedResponseBody body, ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken)
    {
        if (!_detached)
        {
            await ForwardAsync(captured, () => _inner.Stream.WriteAsync(buffer, cancellationToken)).ConfigureAwait(false);
        }

        await body.AppendAsync(buffer).ConfigureAwait(false);
    }

    /// <summary>Ends the body once: what the endpoint left in its writer goes out, then the followers learn the end.</summary>
    /// <remarks>
    /// A value task, synchronous unless a writer over the capture stream has bytes to flush: every leader ends its
    /// body, and most have nothing left to write (a lone response's writer is the server's own).
    /// </remarks>
    private ValueTask<CapturedResponse?> EndBodyAsync(bool early)
    {
        if (_finished)
        {
            return default;
        }

        return _captureWriter?.CaptureWriter is { } writer ? FlushThenEndBodyAsync(writer, early) : new(EndBody(early));
    }

    private async ValueTask<CapturedResponse?> FlushThenEndBodyAsync(PipeWriter writer, bool early)
    {
        // Completing a writer over the capture stream flushes what the endpoint left in it; the stream stays open.
        await writer.CompleteAsync().ConfigureAwait(false);
        return EndBody(early);
    }

    private CapturedResponse EndBody(bool early)
    {
        var captured = EnsureStarted();
        _finished = true;
        captured.Body?.Complete(early);
        return captured;
    }

    /// <summary>
    /// Passes a write to the leader's own client. An unshared response is the leader's alone, so its errors are the
    /// endpoint's, as without coalescing; a shared one goes on for the followers when the leader's client is gone.
    /// </summary>
    private async ValueTask ForwardAsync(CapturedResponse captured, Func<ValueTask> write)
    {
        try
        {
            await write().ConfigureAwait(false);
        }
        catch (Exception exception) when (captured.Body is not null && IsClientGone(exception))
        {
            Detach();
        }
    }

    private static bool IsClientGone(Exception exception) => exception is IOException or ObjectDisposedException;
}
