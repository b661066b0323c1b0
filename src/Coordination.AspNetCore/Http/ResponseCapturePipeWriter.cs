using System.IO.Pipelines;

namespace Coordination.AspNetCore;

/// <summary>
/// The leader's <c>BodyWriter</c> while its endpoint runs for a flight. Its first use starts the response (the share
/// decision); from then on it is the server's own writer when the response is the leader's alone, as without
/// coalescing, or a writer over the capture stream when followers share it.
/// </summary>
internal sealed class ResponseCapturePipeWriter(ResponseCaptureFeature capture) : PipeWriter
{
    private PipeWriter? _target;

    /// <summary>The writer over the capture stream, when the response is shared; the capture completes it when the body ends.</summary>
    public PipeWriter? CaptureWriter { get; private set; }

    public override bool CanGetUnflushedBytes => Target.CanGetUnflushedBytes;

    public override long UnflushedBytes => Target.UnflushedBytes;

    private PipeWriter Target => _target ??= capture.StartForWriter() is { } serverWriter
        ? serverWriter
        : CaptureWriter = Create(capture.Stream, ResponseCaptureFeature.WriterOptions);

    public override void Advance(int bytes) => Target.Advance(bytes);

    public override Memory<byte> GetMemory(int sizeHint = 0) => Target.GetMemory(sizeHint);

    public override Span<byte> GetSpan(int sizeHint = 0) => Target.GetSpan(sizeHint);

    public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default) => Target.FlushAsync(cancellationToken);

    public override void CancelPendingFlush() => _target?.CancelPendingFlush();

    public override void Complete(Exception? exception = null) => Target.Complete(exception);

    public override ValueTask CompleteAsync(Exception? exception = null) => Target.CompleteAsync(exception);
}
