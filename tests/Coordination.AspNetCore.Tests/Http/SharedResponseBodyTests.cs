using System.Text;
using Coordination.AspNetCore;

namespace Coordination.Tests.Http;

/// <summary>The shared body on its own: what followers read, when the writer waits, when the audience is gone.</summary>
public sealed class SharedResponseBodyTests
{
    [Fact]
    public async Task Readers_GetEveryByteInOrder_ThenTheEnd()
    {
        var body = new SharedResponseBody(window: 1024, audienceGone: () => { });
        var first = body.Subscribe()!;
        var second = body.Subscribe()!;

        await body.AppendAsync(Bytes("ab"));
        await body.AppendAsync(Bytes("cd"));
        body.Complete(early: true);

        Assert.Equal("abcd", await ReadAllAsync(first));
        Assert.Equal("abcd", await ReadAllAsync(second));
        Assert.Equal(SharedBodyEnd.Completed, body.End);
        Assert.True(body.CompletedEarly);
    }

    [Fact]
    public async Task PastTheWindow_TheWriterWaitsForTheSlowestReader_AndALateReaderIsTurnedAway()
    {
        var body = new SharedResponseBody(window: 4, audienceGone: () => { });
        var fast = body.Subscribe()!;
        var slow = body.Subscribe()!;

        await body.AppendAsync(Bytes("abcd"));
        var overWindow = body.AppendAsync(Bytes("ef")).AsTask();
        Assert.False(overWindow.IsCompleted);

        Assert.Equal("abcd", Text(await fast.ReadAsync(CancellationToken.None)));
        Assert.False(overWindow.IsCompleted);
        Assert.Equal("abcd", Text(await slow.ReadAsync(CancellationToken.None)));
        await overWindow.DefaultTimeout();

        Assert.Null(body.Subscribe());
        body.Complete(early: false);
        Assert.Equal("ef", await ReadAllAsync(fast));
        Assert.Equal("ef", await ReadAllAsync(slow));
    }

    [Fact]
    public async Task AReaderThatLeaves_NoLongerHoldsTheWriter()
    {
        var body = new SharedResponseBody(window: 4, audienceGone: () => { });
        var gone = body.Subscribe()!;

        await body.AppendAsync(Bytes("abcd"));
        var overWindow = body.AppendAsync(Bytes("ef")).AsTask();
        Assert.False(overWindow.IsCompleted);
        gone.Dispose();

        await overWindow.DefaultTimeout();
    }

    [Fact]
    public void AudienceIsGone_OnlyWhenTheLeaderAndEveryReaderLeft_WhileTheBodyIsOpen()
    {
        var gone = 0;
        var body = new SharedResponseBody(window: 1024, audienceGone: () => gone++);

        // Followers subscribe a moment after the response starts: a leader leaving first ends nothing.
        body.LeaderLeft();
        Assert.Equal(0, gone);
        var reader = body.Subscribe()!;
        reader.Dispose();
        Assert.Equal(1, gone);

        var ended = new SharedResponseBody(window: 1024, audienceGone: () => gone++);
        var last = ended.Subscribe()!;
        ended.LeaderLeft();
        ended.Complete(early: true);
        last.Dispose();
        Assert.Equal(1, gone);
    }

    [Fact]
    public async Task FailedOrAbortedBody_ReadersLearnHowItEnded()
    {
        var failed = new SharedResponseBody(window: 1024, audienceGone: () => { });
        var reader = failed.Subscribe()!;
        await failed.AppendAsync(Bytes("partial"));
        var error = new InvalidOperationException("boom");
        failed.Fail(error);

        Assert.Equal("partial", await ReadAllAsync(reader));
        Assert.Equal(SharedBodyEnd.Failed, failed.End);
        Assert.Same(error, failed.Failure);

        var aborted = new SharedResponseBody(window: 1024, audienceGone: () => { });
        var abortedReader = aborted.Subscribe()!;
        aborted.Abort();
        Assert.Equal(string.Empty, await ReadAllAsync(abortedReader));
        Assert.Equal(SharedBodyEnd.Aborted, aborted.End);
    }

    private static byte[] Bytes(string text) => Encoding.ASCII.GetBytes(text);

    private static string Text(ReadOnlyMemory<byte> bytes) => Encoding.ASCII.GetString(bytes.Span);

    private static async Task<string> ReadAllAsync(SharedResponseBody.Reader reader)
    {
        var text = new StringBuilder();
        while (await reader.ReadAsync(CancellationToken.None).AsTask().DefaultTimeout() is { IsEmpty: false } bytes)
        {
            text.Append(Text(bytes));
        }

        return text.ToString();
    }
}
