using System.Diagnostics;
using Coordination.Threading;

namespace Coordination.AspNetCore;

/// <summary>
/// The body of a shared response while the leader's endpoint writes it: one writer, any number of followers reading
/// at their own pace. It keeps the body from its first byte until more than the window is held; past that, bytes every
/// follower has read are released, a follower that arrives later cannot start at byte 0 (it runs the endpoint itself),
/// and the writer waits for the slowest follower, as one slow client would make it wait.
/// </summary>
/// <remarks>
/// The audience is the leader's own client plus each follower reading: when it drops to zero, nobody is left to
/// receive the response and <c>audienceGone</c> runs (the endpoint's <c>RequestAborted</c> fires). Followers learn of
/// the response when it starts and subscribe a moment later, so a leader that leaves before any follower subscribed
/// does not end the audience: the endpoint runs on for the followers about to read.
/// </remarks>
internal sealed class SharedResponseBody(long window, Action audienceGone)
{
    private readonly Lock _lock = new();
    private readonly List<(long Offset, byte[] Bytes)> _chunks = [];
    private readonly List<Reader> _readers = [];
    /// <summary>Set when there is something new to read (bytes, or the end); readers wait on it and are woken a few at a
    /// time (see <see cref="RelayCompletion{T}"/>), so that a herd's followers do not hold up the requests that arrive
    /// meanwhile.</summary>
    private RelayCompletion<bool> _data = new();

    /// <summary>Created only while the writer waits for the slowest reader; completed when a reader moves on or leaves.</summary>
    private TaskCompletionSource? _space;
    private long _released;
    private long _releasedChunks;
    private long _written;
    private int _audience = 1;
    private bool _leaderLeft;
    private bool _subscribed;

    public SharedBodyEnd End { get; private set; }

    public Exception? Failure { get; private set; }

    /// <summary>Whether the endpoint called <c>CompleteAsync</c> itself, before it returned.</summary>
    public bool CompletedEarly { get; private set; }

    /// <summary>Adds bytes the endpoint wrote; waits while the slowest follower is more than the window behind.</summary>
    public async ValueTask AppendAsync(ReadOnlyMemory<byte> bytes)
    {
        if (bytes.IsEmpty)
        {
            return;
        }

        Task? wait;
        lock (_lock)
        {
            if (End != SharedBodyEnd.Open)
            {
                // Written after HttpContext.Abort() or CompleteAsync: no client receives it, as without coalescing.
                return;
            }

            _chunks.Add((_written, bytes.ToArray()));
            _written += bytes.Length;
            SignalDataLocked();
            wait = ReleaseLocked();
        }

        while (wait is not null)
        {
            await wait.ConfigureAwait(false);
            lock (_lock)
            {
                wait = ReleaseLocked();
            }
        }
    }

    public void Complete(bool early) => Finish(SharedBodyEnd.Completed, null, early);

    public void Fail(Exception failure) => Finish(SharedBodyEnd.Failed, failure, early: false);

    public void Abort() => Finish(SharedBodyEnd.Aborted, null, early: false);

    /// <summary>Starts reading from byte 0, or returns <see langword="null"/> when the start is already released.</summary>
    public Reader? Subscribe()
    {
        lock (_lock)
        {
            if (_released > 0)
            {
                return null;
            }

            var reader = new Reader(this);
            _readers.Add(reader);
            _audience++;
            _subscribed = true;
            return reader;
        }
    }

    /// <summary>The leader's own client is gone: it no longer counts in the audience.</summary>
    public void LeaderLeft()
    {
        lock (_lock)
        {
            if (_leaderLeft)
            {
                return;
            }

            _leaderLeft = true;
        }

        LeaveAudience(null);
    }

    private void Finish(SharedBodyEnd end, Exception? failure, bool early)
    {
        lock (_lock)
        {
            if (End != SharedBodyEnd.Open)
            {
                return;
            }

            End = end;
            Failure = failure;
            CompletedEarly = early;
            SignalDataLocked();
            SignalSpaceLocked();
        }
    }

    private void LeaveAudience(Reader? reader)
    {
        bool gone;
        lock (_lock)
        {
            if (reader is not null && !_readers.Remove(reader))
            {
                return;
            }

            _audience--;
            Debug.Assert(_audience >= 0, "The audience never drops below zero.");
            // Once the body ended (say, after CompleteAsync) clients that leave cancel nothing the endpoint still does.
            gone = _audience == 0 && _subscribed && End == SharedBodyEnd.Open;

            // The slowest reader may be gone: the writer looks again.
            SignalSpaceLocked();
        }

        if (gone)
        {
            audienceGone();
        }
    }

    /// <summary>Releases what every reader has read once more than the window is held; returns what to wait for while a reader lags.</summary>
    private Task? ReleaseLocked()
    {
        if (_written - _released <= window)
        {
            return null;
        }

        var slowest = _written;
        foreach (var reader in _readers)
        {
            slowest = Math.Min(slowest, reader.Position);
        }

        var read = 0;
        while (read < _chunks.Count && _chunks[read].Offset + _chunks[read].Bytes.Length <= slowest)
        {
            _released = _chunks[read].Offset + _chunks[read].Bytes.Length;
            read++;
        }

        _chunks.RemoveRange(0, read);
        _releasedChunks += read;

        Debug.Assert(_readers.TrueForAll(r => r.Position >= _released), "No reader is behind the released bytes.");
        return _written - slowest > window ? (_space ??= NewSignal()).Task : null;
    }

    /// <summary>Wakes the readers waiting for bytes or the end.</summary>
    private void SignalDataLocked()
    {
        var data = _data;
        _data = new();
        data.TrySetResult(true);
    }

    /// <summary>
    /// Wakes the writer if it waits for a reader. Readers never wake each other: a reader that moves on signals the
    /// writer only, so a herd of followers costs one wake-up each per chunk, not one per follower that read before it.
    /// </summary>
    private void SignalSpaceLocked()
    {
        if (_space is { } space)
        {
            _space = null;
            space.TrySetResult();
        }
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>One follower's place in the body.</summary>
    internal sealed class Reader(SharedResponseBody body) : IDisposable
    {
        private long _nextChunk;

        /// <summary>How many bytes this reader has read; readers start at byte 0 and read whole chunks.</summary>
        public long Position { get; private set; }

        /// <summary>The next bytes, or empty once the body ended (see <see cref="SharedResponseBody.End"/>).</summary>
        public async ValueTask<ReadOnlyMemory<byte>> ReadAsync(CancellationToken cancellationToken)
        {
            while (true)
            {
                RelayCompletion<bool> progress;
                lock (body._lock)
                {
                    var index = _nextChunk - body._releasedChunks;
                    Debug.Assert(index >= 0, "A reader never needs a released chunk.");
                    if (index < body._chunks.Count)
                    {
                        var (offset, bytes) = body._chunks[(int)index];
                        _nextChunk++;
                        Position = offset + bytes.Length;
                        body.SignalSpaceLocked();
                        return bytes;
                    }

                    if (body.End != SharedBodyEnd.Open)
                    {
                        return ReadOnlyMemory<byte>.Empty;
                    }

                    progress = body._data;
                }

                await progress.WaitAsync(cancellationToken).ConfigureAwait(false);
            }
        }

        public void Dispose() => body.LeaveAudience(this);
    }
}
