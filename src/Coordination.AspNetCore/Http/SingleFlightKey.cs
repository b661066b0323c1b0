using System.Buffers;
using System.IO.Hashing;
using System.Runtime.InteropServices;
using System.Security.Cryptography;

namespace Coordination.AspNetCore;

/// <summary>
/// A request's single-flight key: its characters (see <see cref="SingleFlightKeyWriter"/>), held in a pooled buffer
/// while the request is handled, and their hash, which is what the flight table and the cache are keyed by. A lone
/// request so allocates no key string and hashes its key once.
/// </summary>
/// <remarks>
/// Two different keys may share a hash (rarely by chance; the seed is random per process, so a client cannot aim at
/// another's hash). A hash never decides alone what a request receives: a follower receives a response only when the
/// response's key (<see cref="CapturedResponse.Key"/>, made into a string only for a response that is shared) equals
/// its own, and so does a cached response. A request that met another key's flight runs the endpoint itself.
/// </remarks>
internal readonly struct SingleFlightKey
{
    private static readonly long Seed = BitConverter.ToInt64(RandomNumberGenerator.GetBytes(sizeof(long)));

    private readonly char[]? _buffer;
    private readonly int _length;

    /// <summary>Takes <paramref name="buffer"/>, rented from <see cref="ArrayPool{T}.Shared"/>; <see cref="Release"/> gives it back.</summary>
    public SingleFlightKey(char[] buffer, int length)
        : this(buffer, length, XxHash3.HashToUInt64(MemoryMarshal.AsBytes(buffer.AsSpan(0, length)), Seed))
    {
    }

    /// <summary>A key with the hash given: tests make two keys share one.</summary>
    internal SingleFlightKey(char[] buffer, int length, ulong hash)
    {
        _buffer = buffer;
        _length = length;
        Hash = hash;
    }

    public ulong Hash { get; }

    public ReadOnlySpan<char> Characters => _buffer.AsSpan(0, _length);

    /// <summary>Whether <paramref name="key"/> (a shared or cached response's) is this key.</summary>
    public bool Matches(string? key) => key is not null && Characters.SequenceEqual(key);

    public override string ToString() => new(Characters);

    /// <summary>Returns the buffer to the pool: the key is not used after this.</summary>
    public void Release()
    {
        if (_buffer is not null)
        {
            ArrayPool<char>.Shared.Return(_buffer);
        }
    }
}
