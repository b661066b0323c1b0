using System.Buffers;
using System.Diagnostics;
using System.Text;
using Microsoft.Extensions.Primitives;

namespace Coordination.AspNetCore;

/// <summary>
/// Writes a single-flight key into a buffer rented from <see cref="ArrayPool{T}.Shared"/>: each value is prefixed with its length, so no value can forge a
/// delimiter and two different requests never write one key.
/// </summary>
/// <remarks>
/// A length is one character when it is below <see cref="LongLength"/> (nearly always), else that marker and two
/// characters; <see langword="null"/> is the <see cref="NullValue"/> character. Keys only meet other keys in a flight
/// table, so they need not be readable, only unambiguous; lengths as characters spare the number formatting that
/// every request used to pay for.
/// </remarks>
internal struct SingleFlightKeyWriter()
{
    private const char NullValue = '\uFFFE';
    private const char LongLength = '\uFFFF';

    private int _length;

    /// <summary>Enough for the keys of most requests; a longer key moves to a larger buffer.</summary>
    private const int InitialLength = 256;

    private char[] _buffer = ArrayPool<char>.Shared.Rent(InitialLength);

    /// <summary>Appends a tag that says which part of the key follows.</summary>
    public void Append(char tag) => Reserve(1)[0] = tag;

    public void Append(string? value)
    {
        if (value is null)
        {
            Append(NullValue);
            return;
        }

        Append(value.AsSpan());
    }

    public void Append(ReadOnlySpan<char> value)
    {
        AppendLength(value.Length);
        value.CopyTo(Reserve(value.Length));
    }

    /// <summary>Appends a value lower-cased with the invariant culture (host names, query keys).</summary>
    public void AppendLowerCase(string? value)
    {
        if (value is null)
        {
            Append(NullValue);
            return;
        }

        AppendLength(value.Length);
        var destination = Reserve(value.Length);
        if (Ascii.ToLower(value, destination, out _) != OperationStatus.Done)
        {
            // Not ASCII (rare in host names and query keys): the invariant culture's casing, which keeps the length.
            var written = value.AsSpan().ToLowerInvariant(destination);
            Debug.Assert(written == value.Length, "Invariant lower-casing keeps the length.");
        }
    }

    /// <summary>Appends the count of values, then each value.</summary>
    public void Append(StringValues values)
    {
        AppendLength(values.Count);
        foreach (var value in values)
        {
            Append(value);
        }
    }

    public void AppendLength(int length)
    {
        Debug.Assert(length >= 0, "Lengths are never negative.");
        if (length < NullValue)
        {
            Append((char)length);
            return;
        }

        var span = Reserve(3);
        span[0] = LongLength;
        span[1] = (char)(length >> 16);
        span[2] = (char)length;
    }

    /// <summary>The key written: it takes the buffer, so the writer is not used after this.</summary>
    public readonly SingleFlightKey ToKey() => new(_buffer, _length);

    private Span<char> Reserve(int count)
    {
        if (_buffer.Length - _length < count)
        {
            var larger = ArrayPool<char>.Shared.Rent(Math.Max(_buffer.Length * 2, _length + count));
            _buffer.AsSpan(0, _length).CopyTo(larger);
            ArrayPool<char>.Shared.Return(_buffer);
            _buffer = larger;
        }

        var span = _buffer.AsSpan(_length, count);
        _length += count;
        return span;
    }
}
