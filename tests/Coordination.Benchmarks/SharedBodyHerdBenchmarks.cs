using BenchmarkDotNet.Attributes;
using Coordination.AspNetCore;

namespace Coordination.Benchmarks;

/// <summary>
/// A herd on one shared body: 200 followers already waiting (as in the wrk herd), then the leader's endpoint writes
/// its body in two chunks and ends it; measured until every follower has read it all. Each follower waits for the next
/// chunk as a Kestrel follower does, so this is the cost of waking them.
/// </summary>
[MemoryDiagnoser]
public class SharedBodyHerdBenchmarks
{
    private const int Followers = 200;
    private static readonly byte[] Half = new byte[1024];

    /// <summary>A token that can cancel, as a follower's <c>RequestAborted</c> can (never cancelled here).</summary>
    private static readonly CancellationTokenSource RequestAborted = new();

    [Benchmark]
    public async Task TwoChunks_200WaitingFollowers()
    {
        var body = new SharedResponseBody(window: 1 << 20, static () => { });
        var readers = new Task<long>[Followers];
        for (var i = 0; i < Followers; i++)
        {
            readers[i] = ReadAllAsync(body.Subscribe()!);
        }

        await body.AppendAsync(Half);
        await body.AppendAsync(Half);
        body.Complete(early: false);
        foreach (var read in await Task.WhenAll(readers))
        {
            if (read != 2 * Half.Length)
            {
                throw new InvalidOperationException($"A follower read {read} bytes.");
            }
        }
    }

    private static async Task<long> ReadAllAsync(SharedResponseBody.Reader reader)
    {
        // Off the caller's thread first, as each follower is its own request.
        await Task.Yield();
        using (reader)
        {
            long read = 0;
            while (await reader.ReadAsync(RequestAborted.Token) is { IsEmpty: false } bytes)
            {
                read += bytes.Length;
            }

            return read;
        }
    }
}
