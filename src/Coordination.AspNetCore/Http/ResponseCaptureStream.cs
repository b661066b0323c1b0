namespace Coordination.AspNetCore;

/// <summary>
/// Passes the leader's response body through to its own client and keeps a copy for the followers, up to a limit.
/// </summary>
/// <remarks>When the leader's client is gone its writes fail; the copy goes on, because the followers still need it.</remarks>
internal sealed class ResponseCaptureStream(Stream inner, long limit) : Stream
{
    private MemoryStream? _copy = new();

    public bool Overflowed => _copy is null;

    public long Length64 { get; private set; }

    public bool InnerFailed { get; private set; }

    public override bool CanRead => false;

    public override bool CanSeek => false;

    public override bool CanWrite => true;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public ReadOnlyMemory<byte> Captured => _copy is null ? ReadOnlyMemory<byte>.Empty : _copy.GetBuffer().AsMemory(0, (int)_copy.Length);

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        Keep(buffer);
        if (!InnerFailed)
        {
            try
            {
                inner.Write(buffer);
            }
            catch (Exception exception) when (exception is IOException or OperationCanceledException or ObjectDisposedException)
            {
                InnerFailed = true;
            }
        }
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        Keep(buffer.Span);
        if (!InnerFailed)
        {
            try
            {
                await inner.WriteAsync(buffer, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception exception) when (exception is IOException or OperationCanceledException or ObjectDisposedException)
            {
                InnerFailed = true;
            }
        }
    }

    public override void Flush()
    {
        if (!InnerFailed)
        {
            try
            {
                inner.Flush();
            }
            catch (Exception exception) when (exception is IOException or OperationCanceledException or ObjectDisposedException)
            {
                InnerFailed = true;
            }
        }
    }

    public override async Task FlushAsync(CancellationToken cancellationToken)
    {
        if (!InnerFailed)
        {
            try
            {
                await inner.FlushAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception exception) when (exception is IOException or OperationCanceledException or ObjectDisposedException)
            {
                InnerFailed = true;
            }
        }
    }

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    // The inner stream belongs to the server: a pipe writer completing over this stream must not close it, so it is left alone here.
    protected override void Dispose(bool disposing) => base.Dispose(disposing);

    private void Keep(ReadOnlySpan<byte> buffer)
    {
        Length64 += buffer.Length;
        if (_copy is null)
        {
            return;
        }

        if (Length64 > limit)
        {
            // Past the limit nothing is shared, so nothing more is kept.
            _copy = null;
            return;
        }

        _copy.Write(buffer);
    }
}
